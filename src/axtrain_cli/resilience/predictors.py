"""Per-neuron scores that predict how much a neuron's error hurts the network (higher: more
fragile). A neuron is an output unit of a layer with a stored weight: a Linear's output, a
convolution's output channel. Each predictor gives one tensor per unit, of its outputs.

approxann    ApproxANN's criticality: mean over samples of |dE/dy_j|, the loss's gradient at
             the neuron's output through exact fixed point (methods.neurons.criticality),
             summed over the positions a channel has; ranked across the network
axnn         AxNN's error apportionment: the same gradient, divided by its layer's mean (AxNN
             calls a neuron resilient when it is below alpha times its layer's mean)
sensitivity  the neuron's share of AxTrain's S(w) = sum |w| |dO/dw| (Eq. 5): the sum over its
             weights of evaluation.sensitivity_map
lrp_epsilon  layer-wise relevance propagation, epsilon rule: mean |R_j| over samples
lrp_zplus    LRP, z+ rule (positive weights only)
activation   mean |y_j| over samples
random       uniform scores (seeded): the floor every predictor should beat

LRP runs as input times a modified gradient: each layer's output y is replaced, for the
backward pass only, so that the gradient arriving at a layer's input is the relevance per
unit of activation (`LrpTape`). epsilon: y * (y / (y + eps sign y)) held constant, i.e.
R_i = a_i sum_j w_ij R_j / (z_j + eps sign z_j); z+: the backward goes through the positive
weights, R_i = a_i sum_j w+_ij R_j / z+_j where a >= 0 (after a ReLU); on inputs of both
signs (a first layer, a LayerNorm's output) z+ keeps the positive contributions, z+_ij =
(a_i w_ij)+, which is LRP's alpha = 1, beta = 0 rule and equals z+ where a >= 0. Elementwise
nonlinearities other than ReLU pass the gradient (relevance scaled by y f'(y) / f(y), as
plain input times gradient does). A BatchNorm folded into its layer is part of
it; an addition (a skip connection) splits relevance in proportion to its operands; max
pooling passes it to the winner; products of two activations and einsum layers pass the
plain gradient. The relevance starts at the logit of each sample's label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..evaluation import sensitivity_maps
from ..methods.neurons import criticality

PREDICTORS = ("approxann", "axnn", "sensitivity", "lrp_epsilon", "lrp_zplus", "activation",
              "random")


def neuron_dim(unit, y: torch.Tensor) -> int:
    """The dimension of a unit's output that indexes its neurons."""
    return 1 if unit.kind == "conv" else y.dim() - 1


def per_neuron(unit, y: torch.Tensor) -> torch.Tensor:
    """|y| summed over every dimension but the neurons' (samples included)."""
    d = neuron_dim(unit, y)
    return y.abs().sum(dim=[k for k in range(y.dim()) if k != d])


class LrpTape:
    """Replaces each unit's output for LRP's backward (the module docstring); `seen` keeps
    (unit, output as the forward goes on with it)."""

    chain = False

    def __init__(self, rule: str, eps: float):
        self.rule, self.eps, self.seen = rule, eps, {}

    def unit(self, i, a, y, unit, z=None):
        if self.rule == "epsilon" or not _plain_layer(unit):
            stab = y + self.eps * torch.where(y >= 0, 1.0, -1.0)
            out = y * (y / stab).detach()
        else:  # z+: the gradient through the positive contributions a_i w_ij > 0 only
            w = unit.stored_weight
            zp = sum(F.linear(p, q) if unit.kind == "fc" else _conv(unit, p, q)
                     for p, q in ((a.clamp(min=0), w.clamp(min=0)),
                                  (a.clamp(max=0), w.clamp(max=0)))) + self.eps
            out = y.detach() + (zp - zp.detach()) * (y / zp).detach()
        self.seen[i] = out
        return out


def _plain_layer(unit) -> bool:
    return unit.kind in ("fc", "conv") and not unit.transposed


def _conv(unit, a, w):
    stride, padding, dilation, groups = unit.conv
    conv = F.conv2d if w.dim() == 4 else F.conv1d
    return conv(a, w, None, stride, padding, dilation, groups)


def lrp(net, x: torch.Tensor, y: torch.Tensor, rule: str, eps: float = 1e-6,
        batch: int = 500) -> list[torch.Tensor]:
    """Mean |R_j| over the samples of x, per unit and neuron (float network)."""
    sums = [torch.zeros(u.outputs) for u in net.units]
    net.eval()
    for s in range(0, len(x), batch):
        xb = x[s:s + batch].clone().requires_grad_(x.is_floating_point())
        tape = LrpTape(rule, eps)
        z = net.logits(xb, tape=tape)
        target = z.gather(-1, y[s:s + batch].view(-1, 1)).sum()
        seen = sorted(tape.seen)
        grads = torch.autograd.grad(target, [tape.seen[i] for i in seen], allow_unused=True)
        for i, g in zip(seen, grads):
            if g is not None:
                sums[i] += per_neuron(net.units[i], (tape.seen[i] * g).detach())
    return [v / len(x) for v in sums]


@torch.no_grad()
def activation(net, x: torch.Tensor, batch: int = 500) -> list[torch.Tensor]:
    sums = [torch.zeros(u.outputs) for u in net.units]
    net.eval()
    for s in range(0, len(x), batch):
        net.logits(x[s:s + batch], observe=lambda i, a, o: sums[i].add_(
            per_neuron(net.units[i], o.detach())))
    return [v / len(x) for v in sums]


def sensitivity_share(net, x: torch.Tensor) -> list[torch.Tensor]:
    return [m.sum(dim=list(range(1, m.dim()))) if m.dim() > 1 else m
            for m in sensitivity_maps(net, x)]


def scores(net, x, y, exact_plan, loss: str, n_classes: int, seed: int,
           names=PREDICTORS) -> dict[str, list[torch.Tensor]]:
    """{predictor: per unit, its neurons' scores} on the data x, y."""
    out = {}
    if {"approxann", "axnn"} & set(names):
        crit = [c.detach().cpu() for c in criticality(net, x, y, exact_plan, loss, n_classes)]
        out["approxann"] = crit
        out["axnn"] = [c / c.mean().clamp(min=1e-30) for c in crit]
    if "sensitivity" in names:
        out["sensitivity"] = sensitivity_share(net, x)
    if "lrp_epsilon" in names:
        out["lrp_epsilon"] = lrp(net, x, y, "epsilon")
    if "lrp_zplus" in names:
        out["lrp_zplus"] = lrp(net, x, y, "zplus")
    if "activation" in names:
        out["activation"] = activation(net, x)
    if "random" in names:
        g = torch.Generator().manual_seed(seed)
        out["random"] = [torch.rand(u.outputs, generator=g) for u in net.units]
    return {k: out[k] for k in names}
