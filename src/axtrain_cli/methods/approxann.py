"""ApproxANN (Zhang et al., DATE 2015) -- OUR RECONSTRUCTION: its algorithm is not in the
papers we have. Criticality c_j = mean_n |dE/dy_j(n)| per neuron (output unit of a fully
connected layer, output channel of a convolution); the B least critical neurons get the
knob's approximate multiplier for all their multiplications; retrain `retrain_epochs`
with the STE; accept if the degradation against the exact network is within `max_loss`
(`constraint`: accuracy, at most max_loss accuracy points lost; error, a test loss at most
max_loss % above the exact network's), else revert and halve B; stop when B reaches 0 (or
everything is approximate)."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, replace

import torch

from .. import knobs
from ..errors import ConfigError
from ..evaluation.inference import measurement
from ..hardware import gradient_rule
from ..knobs import EXACT
from ..networks import HwPlan, Network, calibrate, make_plan
from ..settings.methods import ApproxannConf
from .base import Context, Trained, check_gradient, check_knob, fit_net, hardware_step
from .neurons import check_baseline, criticality, metrics_on, start, unit_mults, unit_view

log = logging.getLogger("axtrain")


def check(cfg) -> None:
    check_baseline(cfg)
    check_knob(cfg, domains=("compute",))
    check_gradient(cfg, [cfg.method.knob])
    if any(e.neurons for e in knobs.resolve(cfg.method.knob, cfg).layers):
        raise ConfigError(f"method.knob={cfg.method.knob!r} names neurons of its own: "
                          "ApproxANN chooses the neurons itself (allowed a knob of whole "
                          "layers)")


def degraded(m, base: tuple[float, float], now: tuple[float, float]) -> float:
    """How far (loss, accuracy) `now` falls behind `base` in the units of m.max_loss."""
    if m.constraint == "error":
        return 100 * (now[0] / base[0] - 1) if base[0] > 0 else (0.0 if now[0] <= 0 else
                                                                  float("inf"))
    return 100 * (base[1] - now[1])


@dataclass
class MixedPlan(HwPlan):
    """Exact fixed-point layers where some neurons use the approximate multiplier."""

    masks: list[torch.Tensor] | None = None  # per layer: bool per output unit
    exact_weights: list[torch.Tensor] | None = None

    def layer(self, i, call, x, rows=None):
        fl, bits = self.fl(i, x), self.bits
        w, we, b, mask = self.weights[i], self.exact_weights[i], self.biases[i], self.masks[i]
        if rows is not None:
            w, we, b, mask = w[..., rows, :], we[..., rows, :], b[..., rows], mask[rows]
        exact = EXACT.multiplier.layer(x, fl, bits, we, self.weight_fl[i], b, call)
        if not bool(mask.any()):
            return exact
        approx = self.unit_multiplier(i).layer(x, fl, bits, w, self.weight_fl[i], b, call)
        return torch.where(unit_view(mask, call.kind, exact), approx, exact)

    def backward_mix(self, i, s, float_call, kind, rows=None):
        """The rule's gradient for the approximate neurons, the exact product's for the rest."""
        mask = self.masks[i] if rows is None else self.masks[i][rows]
        return torch.where(unit_view(mask, kind, s), s, float_call())

    def pair(self, j, a, b, einsum=None):  # products of two activations are no neuron's
        fa, fb = self.pair_fl(j, a, b)
        return EXACT.multiplier.matmul(a, fa, b, fb, self.bits, einsum)


def mixed_plan(net: Network, knob: knobs.Knob, bits: int, ranges, masks,
               ste_clip=1.0, fmt: str = "dynamic", gradient: str = "ste",
               window: int = 4) -> MixedPlan:
    with torch.no_grad():
        ex = make_plan(net, EXACT, bits, ranges, weight_format=fmt)
        ap = make_plan(net, knob, bits, ranges, weight_format=fmt)
    return MixedPlan(bits=bits, multiplier=knob.multiplier, weights=ap.weights,
                     weight_fl=ap.weight_fl, biases=ex.biases, ranges=ranges,
                     ste_clip=ste_clip, masks=masks, exact_weights=ex.weights,
                     gradient=gradient_rule(knob.multiplier, gradient, bits, window),
                     multipliers=ap.multipliers,
                     rules=None if ap.multipliers is None else
                     [gradient_rule(u, gradient, bits, window) for u in ap.multipliers])


def train(net: Network, ctx: Context) -> Trained:
    cfg, m, split = ctx.cfg, ctx.m, ctx.split
    bits, knob = cfg.hardware.bits, knobs.resolve(m.knob, cfg)
    fmt = cfg.hardware.weight_format
    history, figures = start(net, ctx)
    base = copy.deepcopy(net)
    ranges = calibrate(net, split.x_train, bits)
    on_exact = metrics_on(net, ctx, make_plan(net, EXACT, bits, ranges, weight_format=fmt))
    base_loss, base_acc = on_exact
    masks = [torch.zeros(u.outputs, dtype=torch.bool, device=u.weight.device)
             for u in net.units]
    total = sum(len(mk) for mk in masks)
    batch = max(1, math.ceil(total * m.batch_fraction))
    iterations = 0
    while batch >= 1 and iterations < m.max_iterations:
        remaining = total - sum(int(mk.sum()) for mk in masks)
        if remaining == 0:
            break
        iterations += 1
        plan = mixed_plan(net, knob, bits, None, masks, m.ste_clip, fmt)
        crit = criticality(net, split.x_train, split.y_train, plan, cfg.train.loss,
                           split.n_classes)
        flat = torch.cat([torch.where(mk, torch.inf, c) for mk, c in zip(masks, crit)])
        chosen = torch.argsort(flat, stable=True)[:min(batch, remaining)]
        trial_masks = [mk.clone() for mk in masks]
        offsets = torch.tensor([0] + [len(mk) for mk in masks]).cumsum(0)
        for j in chosen.tolist():
            li = int(torch.searchsorted(offsets, j, right=True)) - 1
            trial_masks[li][j - offsets[li]] = True
        trial = copy.deepcopy(net)
        step = hardware_step(lambda n, tm=trial_masks: mixed_plan(
            n, knob, bits, None, tm, m.ste_clip, fmt, m.gradient, m.gradient_window),
            cfg.train.loss, split.n_classes)
        history += fit_net(trial, ctx, step, m.retrain_epochs, m.retrain_lr or cfg.train.lr,
                           f"approxann#{iterations}")
        fl = calibrate(trial, split.x_train, bits)
        now = metrics_on(trial, ctx, mixed_plan(trial, knob, bits, fl, trial_masks, fmt=fmt))
        ok = degraded(m, on_exact, now) <= m.max_loss
        log.info("approxann iteration %d: +%d neurons -> loss %.4g, accuracy %.4f (base %.4g, "
                 "%.4f): %s", iterations, len(chosen), *now, *on_exact,
                 "accept" if ok else "reject")
        if ok:
            net.load_state_dict(trial.state_dict())
            masks = trial_masks
        else:
            batch //= 2
    fl = calibrate(net, split.x_train, bits)
    loss, acc = metrics_on(net, ctx, mixed_plan(net, knob, bits, fl, masks, fmt=fmt))
    unit = unit_mults(net)
    approx_mults = sum(float(u[mk].sum()) for u, mk in zip(unit, masks))
    total_mults = sum(float(u.sum()) for u in unit) + net.pair_mults()  # pairs: exact
    h = cfg.hardware
    rel = [mult.power_as(h.power_model, bits, knobs.cost_reference(h))
           for mult, _ in knob.assign([u.name for u in net.units])]
    power = (sum(float(u[mk].sum()) * (r - 1) for u, mk, r in zip(unit, masks, rel))
             + total_mults) / total_mults
    figures.update({"approx_neurons": sum(int(mk.sum()) for mk in masks),
                    "total_neurons": total, "approx_multipliers": round(approx_mults),
                    "total_multipliers": round(total_mults), "base_accuracy": base_acc,
                    "base_loss": base_loss, "constraint_reading": m.constraint,
                    "iterations": iterations})
    name = f"approxann_{knob.name}"  # the partly approximate network, not the knob itself
    result = replace(measurement(name, knob, {"compute": power, "storage": 1.0}, 0, loss, acc,
                                 None), knob_name=name)
    return Trained(base, train_knob=m.knob, history=history, figures=figures,
                   measurements=[result])


Conf = ApproxannConf  # the method's schema, under the name the registry reads
