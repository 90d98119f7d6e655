"""AxNN (Venkataramani et al., ISLPED 2014), Algorithm 1 with precision scaling: while the
quality constraint holds, take the most energy-hungry layer, find its resilient neurons
(Delta(N) < alpha * mean Delta, Delta = mean |dE/dy| over the training set, no update),
lower their input and weight precision one step (cumulative), retrain `retrain_epochs`
(K); return the last valid network. Energy: per neuron, multiplications x (input bits x
weight bits), relative to all at `hardware.bits`. Guard: a layer with no resilient neuron
left is skipped; the loop stops when no layer can be lowered or after `max_iterations`."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace

import torch

from .. import hardware as hw
from ..evaluation.inference import measurement
from ..knobs import EXACT
from ..networks import HwPlan, Network, calibrate, make_plan
from ..settings.methods import AxnnConf
from .base import Context, Trained, fit_net, hardware_step
from .neurons import check_baseline, criticality, metrics_on, start, unit_mults, unit_view

log = logging.getLogger("axtrain")


def check(cfg) -> None:
    check_baseline(cfg)


@dataclass
class PrecisionPlan(HwPlan):
    """Per-neuron precision scaling (AxNN): neuron j reads its inputs and weights with
    widths[i][j] bits (the same range, fewer LSBs)."""

    widths: list[torch.Tensor] | None = None
    float_weights: list[torch.Tensor] | None = None

    def layer(self, i, call, x, rows=None):
        fl = self.fl(i, x)
        x, w, widths, bias = x.detach(), self.float_weights[i], self.widths[i], self.biases[i]
        if rows is not None:
            w, widths, bias = w[rows], widths[rows], bias[..., rows]
        out = None
        for b in torch.unique(widths).tolist():
            drop = self.bits - int(b)
            xq = hw.fake_quant(x, fl - drop, int(b))
            wq = hw.fake_quant(w, self.weight_fl[i] - drop, int(b))
            y = call(xq, wq, bias)
            sel = unit_view(widths == b, call.kind, y)
            out = y if out is None else torch.where(sel, y, out)
        return out

    def pair(self, j, a, b, einsum=None):  # products of two activations: full precision
        fa, fb = self.pair_fl(j, a, b)
        return EXACT.multiplier.matmul(a, fa, b, fb, self.bits, einsum)


def precision_plan(net: Network, bits: int, ranges, widths, ste_clip=1.0,
                   fmt: str = "dynamic") -> PrecisionPlan:
    with torch.no_grad():
        ex = make_plan(net, EXACT, bits, ranges, weight_format=fmt)
        fw = [u.stored_weight.detach().clone() if not u.transposed else
              u.stored_weight.detach().T.clone() for u in net.units]
    return PrecisionPlan(bits=bits, multiplier=EXACT.multiplier, weights=ex.weights,
                         weight_fl=ex.weight_fl, biases=ex.biases, ranges=ranges,
                         ste_clip=ste_clip, widths=widths, float_weights=fw)


def layer_energy(net: Network, widths, bits: int) -> list[float]:
    """Per layer: sum over neurons of multiplications x (b/bits)^2 (inputs and weights both
    at b bits; an array multiplier's energy scales with the product of operand widths)."""
    return [float((u * (w.double() / bits) ** 2).sum()) for u, w in zip(unit_mults(net), widths)]


def train(net: Network, ctx: Context) -> Trained:
    cfg, m, split = ctx.cfg, ctx.m, ctx.split
    bits, fmt = cfg.hardware.bits, cfg.hardware.weight_format
    history, figures = start(net, ctx)
    base = copy.deepcopy(net)
    ranges = calibrate(net, split.x_train, bits)
    _, base_acc = metrics_on(net, ctx, make_plan(net, EXACT, bits, ranges, weight_format=fmt))

    def full(value):
        return [torch.full((u.outputs,), value, device=u.weight.device) for u in net.units]

    exact_energy = sum(layer_energy(net, full(bits), bits))
    results = []
    for q in m.constraints:
        valid = copy.deepcopy(base)
        widths = full(m.start_bits)
        exhausted: set[int] = set()
        iterations = 0
        while iterations < m.max_iterations:
            energies = layer_energy(valid, widths, bits)
            open_layers = [i for i in range(len(widths)) if i not in exhausted]
            if not open_layers:
                break
            li = max(open_layers, key=lambda i: energies[i])
            plan = precision_plan(valid, bits, None, widths, m.ste_clip, fmt)
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
            step = hardware_step(lambda n, tw=temp_widths: precision_plan(
                n, bits, None, tw, m.ste_clip, fmt), cfg.train.loss,
                split.n_classes)
            history += fit_net(temp, ctx, step, m.retrain_epochs, m.retrain_lr or cfg.train.lr,
                               f"axnn@{q}#{iterations}")
            fl = calibrate(temp, split.x_train, bits)
            _, acc = metrics_on(temp, ctx, precision_plan(temp, bits, fl, temp_widths, fmt=fmt))
            log.info("axnn (%.1f %%) iteration %d: layer %d, %d neurons lowered -> "
                     "accuracy %.4f (base %.4f)", q, iterations, li, int(resilient.sum()),
                     acc, base_acc)
            if (base_acc - acc) * 100 > q:
                break  # constraint broken: keep the last valid network
            valid, widths = temp, temp_widths
        fl = calibrate(valid, split.x_train, bits)
        loss, acc = metrics_on(valid, ctx, precision_plan(valid, bits, fl, widths, fmt=fmt))
        energy = sum(layer_energy(valid, widths, bits)) / exact_energy
        name, bits_mean = f"axnn_{q:g}", float(torch.cat(widths).double().mean())
        results.append(replace(
            measurement(name, EXACT, {"compute": energy, "storage": 1.0}, 0, loss, acc, None,
                        constraint=q, iterations=iterations, mean_bits=bits_mean),
            knob_name=name, domain="compute", multiplier="axnn precision scaling"))
    figures["base_accuracy"] = base_acc
    return Trained(base, history=history, figures=figures, measurements=results)


Conf = AxnnConf  # the method's schema, under the name the registry reads
