"""The training loop shared by every method: seeded mini-batches, the paper's output error,
an optimiser from config, and a per-epoch history."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .models import Net


def loss_per_sample(z: torch.Tensor, y: torch.Tensor, kind: str, n_classes: int):
    """Per-sample output error from logits z (..., N, K) and labels y (N,).

    mse: E = 1/2 sum_k (sigmoid(z_k) - t_k)^2 with one-hot targets t (the paper's output
    error on its sigmoid output layer); bce: binary cross-entropy on the same outputs."""
    t = F.one_hot(y, n_classes).to(z.dtype).expand_as(z)
    if kind == "mse":
        return 0.5 * (torch.sigmoid(z) - t).pow(2).sum(-1)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(z, t, reduction="none").sum(-1)
    raise ValueError(f"train.loss={kind!r}: allowed mse, bce")


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"train.optimizer={name!r}: allowed adam, sgd")


# A step computes the batch objective; it returns (loss to minimise, dict of figures to log).
Step = Callable[[Net, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]]


def fit(net: Net, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
        optimizer: torch.optim.Optimizer, step: Step, generator: torch.Generator,
        on_epoch: Callable[[int, dict], None] | None = None, progress=None,
        label: str = "train", after_step: Callable[[], dict] | None = None) -> list[dict]:
    """Mini-batch training; returns one history dict per epoch (means of the step figures,
    plus `epoch`). `on_epoch(epoch, record)` may adjust state (e.g. adaptive gamma);
    `after_step()` runs after each optimiser step and returns figures to average too."""
    history = []
    task = progress.add_task(label, total=epochs) if progress else None
    n = len(x)
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(n, generator=generator)
        sums: dict[str, float] = {}
        batches = 0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            optimizer.zero_grad(set_to_none=True)
            objective, figures = step(net, x[idx], y[idx])
            objective.backward()
            optimizer.step()
            if after_step is not None:
                figures = {**figures, **after_step()}
            for key, v in figures.items():
                sums[key] = sums.get(key, 0.0) + float(v)
            batches += 1
        record = {"epoch": epoch, **{k: v / batches for k, v in sums.items()}}
        if on_epoch is not None:
            on_epoch(epoch, record)
        history.append(record)
        if progress:
            progress.update(task, advance=1,
                            description=f"{label} loss={record.get('loss', 0):.4f}")
    return history


def bp_step(loss: str, n_classes: int) -> Step:
    """Conventional backpropagation on the output error."""

    def step(net, xb, yb):
        z = net.logits(xb)
        e = loss_per_sample(z, yb, loss, n_classes).mean()
        err = (z.argmax(-1) != yb).float().mean()
        return e, {"loss": e.detach(), "error_rate": err}

    return step
