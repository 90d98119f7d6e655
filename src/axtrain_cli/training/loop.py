"""The training loop shared by every method: seeded mini-batches, the paper's output error,
an optimiser from config, and a per-epoch history."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.optim.adam import adam
from torch.optim.sgd import sgd


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


class Optimizer:
    """Adam or SGD (momentum, no dampening) from config: the state is held here and each step
    is torch's own functional update (`torch.optim.adam.adam`, `torch.optim.sgd.sgd`, the
    code `torch.optim.Adam.step` / `SGD.step` run, with their defaults: the same numbers,
    tests/test_methods.py). Not a `torch.optim.Optimizer` because building one, and its
    first step, import torch._dynamo: about 1.1 s of every small run's start-up."""

    def __init__(self, params, name: str, lr: float, weight_decay: float = 0.0,
                 momentum: float = 0.9):
        if name not in ("adam", "sgd"):
            raise ValueError(f"train.optimizer={name!r}: allowed adam, sgd")
        self.params, self.name = list(params), name
        self.lr, self.weight_decay, self.momentum = lr, weight_decay, momentum
        self.state: dict[torch.Tensor, dict] = {}  # per parameter, created at its first step

    def state_dict(self) -> dict:
        """The per-parameter state, in the order of the parameters (for a resumable save)."""
        return {"state": [self.state.get(p) for p in self.params]}

    def load_state_dict(self, saved: dict) -> None:
        def own(key, v, p):  # Adam's step count stays on the CPU, as torch.optim keeps it
            return (v.clone() if key == "step" else v.to(p.device, copy=True)) \
                if torch.is_tensor(v) else v

        self.state = {p: {k: own(k, v, p) for k, v in s.items()}
                      for p, s in zip(self.params, saved["state"]) if s is not None}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in live]
        if self.name == "sgd":
            bufs = [self.state.get(p, {}).get("momentum_buffer") for p in live]
            sgd(live, grads, bufs, weight_decay=self.weight_decay, momentum=self.momentum,
                lr=self.lr, dampening=0.0, nesterov=False, maximize=False,
                has_sparse_grad=False)
            if self.momentum:
                for p, b in zip(live, bufs):
                    self.state[p] = {"momentum_buffer": b}
            return
        for p in live:
            if p not in self.state:  # as torch.optim.Adam's lazy state
                self.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                 "exp_avg_sq": torch.zeros_like(p)}
        st = [self.state[p] for p in live]
        adam(live, grads, [s["exp_avg"] for s in st], [s["exp_avg_sq"] for s in st], [],
             [s["step"] for s in st], amsgrad=False, beta1=0.9, beta2=0.999, lr=self.lr,
             weight_decay=self.weight_decay, eps=1e-8, maximize=False)


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> Optimizer:
    return Optimizer(params, name, lr, weight_decay, momentum)


# A step computes the batch objective; it returns (loss to minimise, dict of figures to log).
Step = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]]


def fit(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
        optimizer: Optimizer, step: Step, generator: torch.Generator,
        on_epoch: Callable[[int, dict], None] | None = None, progress=None,
        label: str = "train", after_step: Callable[[], dict] | None = None,
        first_epoch: int = 1, history: list[dict] | None = None,
        after_epoch: Callable[[int, list], None] | None = None,
        transform: Callable | None = None, inside: dict | None = None,
        after_batch: Callable[[int, dict, list], None] | None = None) -> list[dict]:
    """Mini-batch training; returns one history dict per epoch (means of the step figures,
    plus `epoch`). `on_epoch(epoch, record)` may adjust state (e.g. adaptive gamma);
    `after_step()` runs after each optimiser step and returns figures to average too;
    `after_epoch(epoch, history)` sees each finished epoch and `after_batch(epoch, point,
    history)` each batch inside one (e.g. to save a resumable state; `point`: the epoch's
    batch order, batches done and figure sums). A resumed phase starts at `first_epoch`
    with the `history` of the epochs before it, and with `inside` (a `point`) part-way
    through it. `transform(batch, generator)`: augmentation of each training batch."""
    history = list(history or [])
    task = progress.add_task(label, total=epochs) if progress else None
    if task is not None and first_epoch > 1:
        progress.update(task, advance=first_epoch - 1)
    estimate = getattr(progress, "estimate", None)
    n = len(x)
    per_epoch = -(-n // batch_size)
    if estimate is not None:  # a resumed phase: its finished epochs are not planned work
        estimate.batches -= (first_epoch - 1) * per_epoch
    for epoch in range(first_epoch, epochs + 1):
        net.train()
        if inside is not None:  # resumed part-way through this epoch
            order, batches, sums = inside["order"], inside["batch"], dict(inside["sums"])
            inside = None
            if task is not None:
                progress.update(task, advance=batches / per_epoch)
        else:
            order, batches, sums = torch.randperm(n, generator=generator), 0, {}
        for s in range(batches * batch_size, n, batch_size):
            idx = order[s:s + batch_size]
            optimizer.zero_grad(set_to_none=True)
            xb = x[idx] if transform is None else transform(x[idx], generator)
            objective, figures = step(net, xb, y[idx])
            objective.backward()
            optimizer.step()
            if after_step is not None:
                figures = {**figures, **after_step()}
            for key, v in figures.items():
                sums[key] = sums.get(key, 0.0) + float(v)
            batches += 1
            if estimate is not None:
                estimate.trained()
            if batches < per_epoch:
                if task is not None:  # a line every ~10 s off a terminal
                    progress.update(task, advance=1 / per_epoch, steps=1)
                if after_batch is not None:
                    after_batch(epoch, {"order": order, "batch": batches, "sums": sums},
                                history)
        record = {"epoch": epoch, **{k: v / batches for k, v in sums.items()}}
        if on_epoch is not None:
            on_epoch(epoch, record)
        history.append(record)
        if after_epoch is not None:
            after_epoch(epoch, history)
        if progress:
            progress.update(task, advance=1 - (batches - 1) / per_epoch, steps=1,
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
