"""Training methods (the `method` config group): each returns a `Trained` bundle."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .models import Net
from .training import bp_step, fit, make_optimizer


@dataclass
class Trained:
    """What a method hands to the inference sweep.

    net: the trained network; per_knob: networks fine-tuned for one knob each (AxTrain's
    per-knob pas fine-tune), used for that knob's rows; history: per-epoch records;
    figures: the method's own numbers, written as extra result columns."""

    net: Net
    per_knob: dict[str, Net] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


@dataclass
class Context:
    cfg: object
    split: object
    generator: torch.Generator
    progress: object = None


def train_bp(net: Net, ctx: Context, epochs: int | None = None, lr: float | None = None,
             label: str = "bp") -> list[dict]:
    """Conventional backpropagation (train.* settings)."""
    t, split = ctx.cfg.train, ctx.split
    opt = make_optimizer(net.parameters(), t.optimizer, lr or t.lr, t.weight_decay, t.momentum)
    return fit(net, split.x_train, split.y_train, epochs=epochs or t.epochs,
               batch_size=t.batch_size, optimizer=opt,
               step=bp_step(t.loss, split.n_classes), generator=ctx.generator,
               progress=ctx.progress, label=label)


def bp(net: Net, ctx: Context) -> Trained:
    history = train_bp(net, ctx)
    for r in history:
        r["phase"] = "bp"
    return Trained(net, history=history)


METHODS = {"bp": bp}


def run_method(name: str, net: Net, ctx: Context) -> Trained:
    if name not in METHODS:
        raise NotImplementedError(f"method={name!r} is not available yet: allowed "
                                  f"{', '.join(METHODS)}")
    return METHODS[name](net, ctx)
