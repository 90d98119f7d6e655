"""The baselines the paper compares against.

ApproxANN (Zhang et al., DATE 2015) -- OUR RECONSTRUCTION: its algorithm is not in the
papers we have. Criticality c_j = mean_n |dE/dy_j(n)| per neuron (output unit of a fully
connected layer, output channel of a convolution); the B least critical neurons get DRUM-k
multipliers for all their multiplications; retrain `method.epochs` with the STE; accept if
the accuracy loss against the exact network is <= `method.max_loss` points, else revert
and halve B; stop when B reaches 0 (or everything is approximate).

AxNN (Venkataramani et al., ISLPED 2014), Algorithm 1 with precision scaling: while the
quality constraint holds, take the most energy-hungry layer, find its resilient neurons
(Delta(N) < alpha * mean Delta, Delta = mean |dE/dy| over the training set, no update),
lower their input and weight precision one step (cumulative), retrain K epochs; return
the last valid network. Energy: per neuron, multiplications x (input bits x weight bits),
relative to all at `hardware.bits`. Guard: a layer with no resilient neuron left is
skipped; the loop stops when no layer can be lowered or after `method.max_iterations`.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import torch

from . import hardware as hw
from .evaluate import Knob, evaluate, knob_from_approx, make_plan
from .methods import (Context, Trained, _fit, hardware_step, load_start, train_act,
                      train_bp)
from .models import HwPlan, Net, _layer, calibrate
from .training import loss_per_sample

log = logging.getLogger("axtrain")


def _unit_view(mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-output-unit values shaped to broadcast over a layer output."""
    return mask.view(-1, 1, 1) if kind == "conv" else mask


@dataclass
class MixedPlan(HwPlan):
    """Exact fixed-point layers where some neurons use DRUM-k multipliers (ApproxANN)."""

    masks: list[torch.Tensor] | None = None  # per layer: bool per output unit
    exact_weights: list[torch.Tensor] | None = None

    def layer(self, i, kind, layer, x, shared):
        fl = self.act_fl[i]
        if fl is None:
            fl = hw.frac_length(float(x.detach().abs().max()), self.bits)
        x = x.detach()
        exact = _layer(kind, layer, hw.fake_quant(x, fl, self.bits), self.exact_weights[i],
                       self.biases[i], None, True)
        mask = self.masks[i]
        if not bool(mask.any()):
            return exact
        approx = _layer(kind, layer, hw.fake_quant(x, fl, self.bits, self.k), self.weights[i],
                        self.biases[i], None, True)
        return torch.where(_unit_view(mask, kind), approx, exact)


def mixed_plan(net: Net, knob: Knob, bits: int, act_fl, masks, ste_clip=1.0) -> MixedPlan:
    with torch.no_grad():
        ex = make_plan(net, Knob("exact", "exact"), bits, act_fl)
        ap = make_plan(net, knob, bits, act_fl)
    return MixedPlan(bits=bits, weights=ap.weights, biases=ex.biases, act_fl=list(act_fl),
                     k=knob.k, ste_clip=ste_clip, masks=masks, exact_weights=ex.weights)


def criticality(net: Net, x: torch.Tensor, y: torch.Tensor, plan, loss: str, n_classes: int,
                batch: int = 4096) -> list[torch.Tensor]:
    """Per compute layer, per output unit: mean_n |dE/dy_j(n)| (the backpropagated error at
    each neuron, through the hardware plan with the STE; no weight update)."""
    sums = [torch.zeros(m.weight.shape[0]) for m in net.compute]
    for s in range(0, len(x), batch):
        outs: dict[int, torch.Tensor] = {}
        z = net.logits(x[s:s + batch], plan, ste=plan is not None,
                       observe=lambda i, a, o: outs.__setitem__(i, o))
        e = loss_per_sample(z, y[s:s + batch], loss, n_classes).sum()
        grads = torch.autograd.grad(e, [outs[i] for i in range(len(sums))])
        for i, g in enumerate(grads):
            g = g.abs()
            sums[i] += (g.sum(dim=(0, 2, 3)) if g.dim() == 4 else g.sum(0)).detach()
    return [v / len(x) for v in sums]


def _accuracy(net, ctx, plan) -> tuple[float, float]:
    s, cfg = ctx.split, ctx.cfg
    m = evaluate(net, s.x_test, s.y_test, plan, cfg.train.loss, s.n_classes)
    return float(m.loss[0]), float(m.accuracy[0])


def _init(net: Net, ctx: Context) -> tuple[list[dict], dict]:
    """The starting network: `method.checkpoint` if given (a run of `method.init`), else
    trained here with `method.init` (bp or act)."""
    if ctx.cfg.method.checkpoint:
        load_start(net, ctx.cfg.method.checkpoint)
        return [], {}
    if ctx.cfg.method.init == "act":
        history, gamma = train_act(net, ctx, label="init:act")
        return history, {"final_gamma": gamma}
    return train_bp(net, ctx, label="init:bp"), {}


def _unit_mults(net: Net) -> list[torch.Tensor]:
    """Multiplications per inference attributable to each output unit, per layer."""
    return [torch.full((m.weight.shape[0],), t["mults"] / m.weight.shape[0])
            for m, t in zip(net.compute, net.trace())]


# ---------------------------------------------------------------------------- ApproxANN
def approxann(net: Net, ctx: Context) -> Trained:
    cfg, m, split = ctx.cfg, ctx.cfg.method, ctx.split
    bits, knob = cfg.hardware.bits, knob_from_approx(cfg.approx)
    history, figures = _init(net, ctx)
    base = copy.deepcopy(net)
    act_fl = calibrate(net, split.x_train, bits)
    _, base_acc = _accuracy(net, ctx, make_plan(net, Knob("exact", "exact"), bits, act_fl))
    masks = [torch.zeros(mod.weight.shape[0], dtype=torch.bool) for mod in net.compute]
    total = sum(len(mk) for mk in masks)
    batch = max(1, math.ceil(total * m.batch_fraction))
    epochs = m.epochs or 1
    iterations = 0
    while batch >= 1 and iterations < m.max_iterations:
        remaining = total - sum(int(mk.sum()) for mk in masks)
        if remaining == 0:
            break
        iterations += 1
        plan = mixed_plan(net, knob, bits, [None] * len(masks), masks, m.ste_clip)
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
        step = _mixed_step(knob, cfg, split.n_classes, trial_masks)
        history += _fit(trial, ctx, step, epochs, m.lr or cfg.train.lr, f"approxann#{iterations}")
        fl = calibrate(trial, split.x_train, bits)
        _, acc = _accuracy(trial, ctx, mixed_plan(trial, knob, bits, fl, trial_masks))
        ok = (base_acc - acc) * 100 <= m.max_loss
        log.info("approxann iteration %d: +%d neurons -> accuracy %.4f (base %.4f): %s",
                 iterations, len(chosen), acc, base_acc, "accept" if ok else "reject")
        if ok:
            net.load_state_dict(trial.state_dict())
            masks = trial_masks
        else:
            batch //= 2
    fl = calibrate(net, split.x_train, bits)
    loss, acc = _accuracy(net, ctx, mixed_plan(net, knob, bits, fl, masks))
    unit = _unit_mults(net)
    approx_mults = sum(float(u[mk].sum()) for u, mk in zip(unit, masks))
    total_mults = sum(float(u.sum()) for u in unit)
    rel = hw.drum_power(knob.k)
    power = (approx_mults * rel + (total_mults - approx_mults)) / total_mults
    figures.update({"approx_neurons": sum(int(mk.sum()) for mk in masks),
                    "total_neurons": total, "approx_multipliers": round(approx_mults),
                    "total_multipliers": round(total_mults), "base_accuracy": base_acc,
                    "iterations": iterations})
    row = {"knob": f"approxann_{knob.name}", "knob_name": knob.name, "knob_kind": "approxann",
           "k": knob.k, "voltage_mv": None, "flip_rate": None, "trial": 0, "loss": loss,
           "accuracy": acc, "compute_power": power, "storage_power": 1.0}
    return Trained(base, history=history, figures=figures, rows=[row])


def _mixed_step(knob, cfg, n_classes, masks):
    return hardware_step(lambda net: mixed_plan(net, knob, cfg.hardware.bits, [None] * len(masks),
                                                masks, cfg.method.ste_clip),
                         cfg.train.loss, n_classes)


# --------------------------------------------------------------------------------- AxNN
@dataclass
class PrecisionPlan(HwPlan):
    """Per-neuron precision scaling (AxNN): neuron j reads its inputs and weights with
    widths[i][j] bits (the same range, fewer LSBs)."""

    widths: list[torch.Tensor] | None = None
    weight_fl: list[int] | None = None
    float_weights: list[torch.Tensor] | None = None

    def layer(self, i, kind, layer, x, shared):
        fl = self.act_fl[i]
        if fl is None:
            fl = hw.frac_length(float(x.detach().abs().max()), self.bits)
        x, w, widths = x.detach(), self.float_weights[i], self.widths[i]
        out = None
        for b in torch.unique(widths).tolist():
            drop = self.bits - int(b)
            xq = hw.fake_quant(x, fl - drop, int(b))
            wq = hw.fake_quant(w, self.weight_fl[i] - drop, int(b))
            y = _layer(kind, layer, xq, wq, self.biases[i], None, True)
            sel = _unit_view(widths == b, kind)
            out = y if out is None else torch.where(sel, y, out)
        return out


def precision_plan(net: Net, bits: int, act_fl, widths, ste_clip=1.0) -> PrecisionPlan:
    with torch.no_grad():
        ex = make_plan(net, Knob("exact", "exact"), bits, act_fl)
        wf = [hw.frac_length(float(m.weight.abs().max()), bits) for m in net.compute]
        fw = [m.weight.detach().clone() for m in net.compute]
    return PrecisionPlan(bits=bits, weights=ex.weights, biases=ex.biases, act_fl=list(act_fl),
                         ste_clip=ste_clip, widths=widths, weight_fl=wf, float_weights=fw)


def layer_energy(net: Net, widths, bits: int) -> list[float]:
    """Per layer: sum over neurons of multiplications x (b/bits)^2 (inputs and weights both
    at b bits; an array multiplier's energy scales with the product of operand widths)."""
    return [float((u * (w.double() / bits) ** 2).sum()) for u, w in zip(_unit_mults(net), widths)]


def axnn(net: Net, ctx: Context) -> Trained:
    cfg, m, split = ctx.cfg, ctx.cfg.method, ctx.split
    bits = cfg.hardware.bits
    history, figures = _init(net, ctx)
    base = copy.deepcopy(net)
    act_fl = calibrate(net, split.x_train, bits)
    _, base_acc = _accuracy(net, ctx, make_plan(net, Knob("exact", "exact"), bits, act_fl))
    exact_energy = sum(layer_energy(net, [torch.full((mod.weight.shape[0],), bits)
                                          for mod in net.compute], bits))
    rows = []
    for q in m.constraints:
        valid = copy.deepcopy(base)
        widths = [torch.full((mod.weight.shape[0],), m.start_bits) for mod in net.compute]
        exhausted: set[int] = set()
        iterations = 0
        while iterations < m.max_iterations:
            energies = layer_energy(valid, widths, bits)
            open_layers = [i for i in range(len(widths)) if i not in exhausted]
            if not open_layers:
                break
            li = max(open_layers, key=lambda i: energies[i])
            plan = precision_plan(valid, bits, [None] * len(widths), widths, m.ste_clip)
            delta = criticality(valid, split.x_train, split.y_train, plan, cfg.train.loss,
                                split.n_classes)[li]
            resilient = (delta < m.alpha * delta.mean()) & (widths[li] - m.bit_step >= m.min_bits)
            if not bool(resilient.any()):
                exhausted.add(li)  # guard: nothing left to lower in this layer
                continue
            iterations += 1
            temp_widths = [w.clone() for w in widths]
            temp_widths[li][resilient] -= m.bit_step
            temp = copy.deepcopy(valid)
            step = _precision_step(cfg, split.n_classes, temp_widths)
            history += _fit(temp, ctx, step, m.epochs or 2, m.lr or cfg.train.lr,
                            f"axnn@{q}#{iterations}")
            fl = calibrate(temp, split.x_train, bits)
            _, acc = _accuracy(temp, ctx, precision_plan(temp, bits, fl, temp_widths))
            log.info("axnn (%.1f %%) iteration %d: layer %d, %d neurons lowered -> "
                     "accuracy %.4f (base %.4f)", q, iterations, li, int(resilient.sum()),
                     acc, base_acc)
            if (base_acc - acc) * 100 > q:
                break  # constraint broken: keep the last valid network
            valid, widths = temp, temp_widths
        fl = calibrate(valid, split.x_train, bits)
        loss, acc = _accuracy(valid, ctx, precision_plan(valid, bits, fl, widths))
        energy = sum(layer_energy(valid, widths, bits)) / exact_energy
        rows.append({"knob": f"axnn_{q:g}", "knob_name": f"axnn_{q:g}", "knob_kind": "axnn",
                     "k": None, "voltage_mv": None, "flip_rate": None, "trial": 0,
                     "loss": loss, "accuracy": acc, "compute_power": energy,
                     "storage_power": 1.0, "constraint": q, "iterations": iterations,
                     "mean_bits": float(torch.cat(widths).double().mean())})
    figures["base_accuracy"] = base_acc
    return Trained(base, history=history, figures=figures, rows=rows)


def _precision_step(cfg, n_classes, widths):
    return hardware_step(lambda net: precision_plan(net, cfg.hardware.bits, [None] * len(widths),
                                                    widths, cfg.method.ste_clip),
                         cfg.train.loss, n_classes)
