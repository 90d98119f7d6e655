"""What the neuron-level baselines (ApproxANN, AxNN) share: their starting network, the
per-neuron error contribution, the multiplications per neuron, and test accuracy on a
hardware plan."""

from __future__ import annotations

import torch

from ..evaluation import evaluate
from ..networks import Network
from ..training import loss_per_sample
from . import act
from .base import Context, check_checkpoint, load_start, train_bp


def check_baseline(cfg) -> None:
    check_checkpoint(cfg)


def start(net: Network, ctx: Context) -> tuple[list[dict], dict]:
    """Load `checkpoint`, or train the starting network with `init`; (history, figures)."""
    m = ctx.m
    if m.checkpoint:
        load_start(net, ctx)
        return [], {}
    if m.init == "act":
        history, gamma = act.train_act(net, ctx, m.act, label="init:act")
        return history, {"final_gamma": gamma}
    return train_bp(net, ctx, label="init:bp"), {}


def criticality(net: Network, x: torch.Tensor, y: torch.Tensor, plan, loss: str, n_classes: int,
                batch: int = 4096) -> list[torch.Tensor]:
    """Per unit, per output unit (neuron or channel): mean_n |dE/dy_j(n)| (the
    backpropagated error at each neuron, through the hardware plan with the STE; no weight
    update; summed over the positions or tokens a neuron's output has)."""
    sums = [torch.zeros(u.outputs, device=u.weight.device) for u in net.units]
    was = net.training
    net.eval()  # a measurement: a BatchNorm's running statistics, left as they are
    try:
        for s in range(0, len(x), batch):
            outs: dict[int, torch.Tensor] = {}
            z = net.logits(x[s:s + batch], plan, ste=plan is not None,
                           observe=lambda i, a, o: outs.__setitem__(i, o))
            e = loss_per_sample(z, y[s:s + batch], loss, n_classes).sum()
            seen = sorted(outs)
            for i, g in zip(seen, torch.autograd.grad(e, [outs[i] for i in seen],
                                                      allow_unused=True)):
                if g is None:
                    continue
                g = g.abs()
                unit_dim = 1 if net.units[i].kind == "conv" else g.dim() - 1
                sums[i] += g.sum(dim=[d for d in range(g.dim()) if d != unit_dim]).detach()
    finally:
        net.train(was)
    return [v / len(x) for v in sums]


def unit_mults(net: Network) -> list[torch.Tensor]:
    """Multiplications per inference attributable to each output unit, per unit."""
    return [torch.full((u.outputs,), t["mults"] / u.outputs, device=u.weight.device)
            for u, t in zip(net.units, net.trace())]


def unit_view(mask: torch.Tensor, kind: str, y: torch.Tensor) -> torch.Tensor:
    """Per-output-unit values shaped to broadcast over a layer's output y (a convolution's
    channels are dimension 1, a Linear's outputs the last)."""
    return mask.view(-1, *([1] * (y.dim() - 2))) if kind == "conv" else mask


def metrics_on(net: Network, ctx: Context, plan) -> tuple[float, float]:
    """(loss, accuracy) on the test set through `plan`."""
    s, cfg = ctx.split, ctx.cfg
    m = evaluate(net, s.x_test, s.y_test, plan, cfg.train.loss, s.n_classes)
    return float(m.loss[0]), float(m.accuracy[0])
