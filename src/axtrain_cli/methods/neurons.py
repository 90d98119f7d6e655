"""What the neuron-level baselines (ApproxANN, AxNN) share: their starting network, the
per-neuron error contribution, the multiplications per neuron, and test accuracy on a
hardware plan."""

from __future__ import annotations

import torch

from ..evaluate import evaluate
from ..models import Net
from ..training import loss_per_sample
from . import act
from .base import Context, check_checkpoint, load_start, train_bp


def check_baseline(cfg) -> None:
    check_checkpoint(cfg)


def start(net: Net, ctx: Context) -> tuple[list[dict], dict]:
    """Load `checkpoint`, or train the starting network with `init`; (history, figures)."""
    m = ctx.m
    if m.checkpoint:
        load_start(net, ctx)
        return [], {}
    if m.init == "act":
        history, gamma = act.train_act(net, ctx, m.act, label="init:act")
        return history, {"final_gamma": gamma}
    return train_bp(net, ctx, label="init:bp"), {}


def criticality(net: Net, x: torch.Tensor, y: torch.Tensor, plan, loss: str, n_classes: int,
                batch: int = 4096) -> list[torch.Tensor]:
    """Per compute layer, per output unit: mean_n |dE/dy_j(n)| (the backpropagated error at
    each neuron, through the hardware plan with the STE; no weight update)."""
    sums = [torch.zeros(m.weight.shape[0], device=m.weight.device) for m in net.compute]
    was = net.training
    net.eval()  # a measurement: a BatchNorm's running statistics, left as they are
    for s in range(0, len(x), batch):
        outs: dict[int, torch.Tensor] = {}
        z = net.logits(x[s:s + batch], plan, ste=plan is not None,
                       observe=lambda i, a, o: outs.__setitem__(i, o))
        e = loss_per_sample(z, y[s:s + batch], loss, n_classes).sum()
        grads = torch.autograd.grad(e, [outs[i] for i in range(len(sums))])
        for i, g in enumerate(grads):
            g = g.abs()
            sums[i] += (g.sum(dim=(0, 2, 3)) if g.dim() == 4 else g.sum(0)).detach()
    net.train(was)
    return [v / len(x) for v in sums]


def unit_mults(net: Net) -> list[torch.Tensor]:
    """Multiplications per inference attributable to each output unit, per layer."""
    return [torch.full((m.weight.shape[0],), t["mults"] / m.weight.shape[0],
                       device=m.weight.device)
            for m, t in zip(net.compute, net.trace())]


def unit_view(mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-output-unit values shaped to broadcast over a layer output."""
    return mask.view(-1, 1, 1) if kind == "conv" else mask


def metrics_on(net: Net, ctx: Context, plan) -> tuple[float, float]:
    """(loss, accuracy) on the test set through `plan`."""
    s, cfg = ctx.split, ctx.cfg
    m = evaluate(net, s.x_test, s.y_test, plan, cfg.train.loss, s.n_classes)
    return float(m.loss[0]), float(m.accuracy[0])
