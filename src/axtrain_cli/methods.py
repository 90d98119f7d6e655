"""Training methods (the `method` config group): each returns a `Trained` bundle.

bp        conventional backpropagation on the output error
act       AxTrain-act: E + gamma * S(w) (Eqs. 4-6), gamma adapted once per epoch (3.1.3)
pas       AxTrain-pas: the hardware model (cfg.approx) in the forward pass, STE backward
axtrain   act, then one pas fine-tune per hardware knob of the sweep
approxann, axnn: the baselines, in `baselines.py`
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .evaluate import Knob, knob_from_approx, make_plan, resolve_knob
from .models import Net
from .training import Step, bp_step, fit, loss_per_sample, make_optimizer

log = logging.getLogger("axtrain")


@dataclass
class Trained:
    """What a method hands to the inference sweep.

    net: the trained network; per_knob: networks fine-tuned for one knob each (AxTrain's
    per-knob pas fine-tune), used for that knob's rows; history: per-epoch records;
    figures: the method's own numbers, written as extra result columns; rows: extra
    result rows the method evaluated itself (e.g. ApproxANN's partly approximate network)."""

    net: Net
    per_knob: dict[str, Net] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)


@dataclass
class Context:
    cfg: object
    split: object
    generator: torch.Generator
    progress: object = None


def _fit(net: Net, ctx: Context, step: Step, epochs: int, lr: float, label: str,
         on_epoch=None) -> list[dict]:
    t, split = ctx.cfg.train, ctx.split
    opt = make_optimizer(net.parameters(), t.optimizer, lr, t.weight_decay, t.momentum)
    history = fit(net, split.x_train, split.y_train, epochs=epochs, batch_size=t.batch_size,
                  optimizer=opt, step=step, generator=ctx.generator, on_epoch=on_epoch,
                  progress=ctx.progress, label=label)
    for r in history:
        r["phase"] = label
    return history


def train_bp(net: Net, ctx: Context, epochs: int | None = None, label: str = "bp"):
    t = ctx.cfg.train
    return _fit(net, ctx, bp_step(t.loss, ctx.split.n_classes), epochs or t.epochs, t.lr, label)


def bp(net: Net, ctx: Context) -> Trained:
    return Trained(net, history=train_bp(net, ctx))


# ---------------------------------------------------------------------------------- act
def act_step(loss: str, n_classes: int, gamma, per_sample: bool = True) -> Step:
    """E + gamma * S(w): output error plus the sensitivity regulariser (Eq. 4).

    `gamma` is a callable returning the current preference factor. The gradient of S is
    what autograd gives for Eq. 5, i.e. the paper's Eq. 6 with its Hessian-vector term."""
    from .sensitivity import network_sensitivity

    def step(net, xb, yb):
        z = net.logits(xb)
        e = loss_per_sample(z, yb, loss, n_classes).mean()
        s = network_sensitivity(net, xb, per_sample=per_sample)
        g = gamma()
        objective = e + g * s if g > 0 else e + 0.0 * s
        err = (z.argmax(-1) != yb).float().mean()
        return objective, {"loss": e.detach(), "sensitivity": s.detach(), "error_rate": err}

    return step


class AdaptiveGamma:
    """Section 3.1.3, once per epoch: with A_n = 0.5 E_{n-1} + 0.25 E_{n-2} + ... (A_1 = 0),
    gamma += delta if E_n < A_n or E_n < bound, else gamma -= delta; gamma >= 0.
    E is the epoch's mean training loss or misclassification rate (`metric`)."""

    def __init__(self, gamma0: float, delta: float, bound: float, metric: str = "loss"):
        self.gamma, self.delta, self.bound, self.metric = gamma0, delta, bound, metric
        self.avg = 0.0

    def __call__(self) -> float:
        return self.gamma

    def on_epoch(self, epoch: int, record: dict) -> None:
        e = record["loss" if self.metric == "loss" else "error_rate"]
        record["gamma"] = self.gamma  # the gamma used during this epoch
        record["weighted_past_error"] = self.avg
        if e < self.avg or e < self.bound:
            self.gamma += self.delta
        else:
            self.gamma = max(0.0, self.gamma - self.delta)
        self.avg = 0.5 * e + 0.5 * self.avg


def train_act(net: Net, ctx: Context, label: str = "act") -> tuple[list[dict], float]:
    cfg, m = ctx.cfg, ctx.cfg.method
    gamma = AdaptiveGamma(m.gamma0, m.delta_gamma, m.error_bound, m.error_metric)
    step = act_step(cfg.train.loss, ctx.split.n_classes, gamma,
                    per_sample=m.sensitivity == "per_sample")
    history = _fit(net, ctx, step, cfg.train.epochs, cfg.train.lr, label, gamma.on_epoch)
    return history, gamma.gamma


def act(net: Net, ctx: Context) -> Trained:
    history, gamma = train_act(net, ctx)
    return Trained(net, history=history, figures={"final_gamma": gamma})


# ---------------------------------------------------------------------------------- pas
def hardware_step(make_plan_for, loss: str, n_classes: int) -> Step:
    """Training through a hardware model: `make_plan_for(net)` gives the plan (built from
    the current weights at every step, e.g. fresh NTV flips); Eq. 12 STE backward."""

    def step(net, xb, yb):
        with torch.no_grad():
            plan = make_plan_for(net)
        z = net.logits(xb, plan, ste=True)
        e = loss_per_sample(z, yb, loss, n_classes).mean()
        return e, {"loss": e.detach(), "error_rate": (z.argmax(-1) != yb).float().mean()}

    return step


def pas_step(knob: Knob, cfg, n_classes: int, generator: torch.Generator) -> Step:
    """Forward through the hardware model of `knob` (fresh NTV flips every pass, DRUM
    products, fixed point with per-batch activation ranges)."""
    h, m = cfg.hardware, cfg.method
    return hardware_step(
        lambda net: make_plan(net, knob, h.bits, [None] * len(net.compute), generator=generator,
                              store_biases=h.store_biases, ste_clip=m.ste_clip),
        cfg.train.loss, n_classes)


def train_pas(net: Net, ctx: Context, knob: Knob, epochs: int, label: str) -> list[dict]:
    cfg = ctx.cfg
    if knob.kind not in ("drum", "ntv"):
        raise ValueError(f"pas needs an approximate knob (drum or ntv), got {knob.name!r}")
    step = pas_step(knob, cfg, ctx.split.n_classes, ctx.generator)
    return _fit(net, ctx, step, epochs, cfg.method.lr or cfg.train.lr, label)


def load_start(net: Net, path: str) -> None:
    """Start from the model.pt of an earlier run (`method.checkpoint`)."""
    from .results import load_checkpoint

    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"method.checkpoint={path!r}: no such file (a model.pt of an "
                         "earlier run, or null)")
    net.load_state_dict(load_checkpoint(file)["state_dict"])
    log.info("starting from %s", file)


def pas(net: Net, ctx: Context) -> Trained:
    cfg, m = ctx.cfg, ctx.cfg.method
    if m.checkpoint:
        load_start(net, m.checkpoint)
    knob = knob_from_approx(cfg.approx)
    history = train_pas(net, ctx, knob, m.epochs or cfg.train.epochs, f"pas@{knob.name}")
    return Trained(net, history=history)


# ------------------------------------------------------------------------------ axtrain
def axtrain(net: Net, ctx: Context) -> Trained:
    """act until the schedule ends (or start from `method.checkpoint`, an act run's
    model.pt), then one pas fine-tune per approximate knob."""
    cfg = ctx.cfg
    if cfg.method.checkpoint:
        load_start(net, cfg.method.checkpoint)
        history, gamma = [], None
    else:
        history, gamma = train_act(net, ctx)
    per_knob = {}
    for name in cfg.eval.knobs:
        knob = resolve_knob(name, cfg)
        if knob.kind not in ("drum", "ntv"):
            continue
        tuned = copy.deepcopy(net)
        history += train_pas(tuned, ctx, knob, cfg.method.epochs, f"pas@{name}")
        per_knob[name] = tuned
    figures = {} if gamma is None else {"final_gamma": gamma}
    return Trained(net, per_knob=per_knob, history=history, figures=figures)


METHODS = {"bp": bp, "act": act, "pas": pas, "axtrain": axtrain}


def run_method(name: str, net: Net, ctx: Context) -> Trained:
    from . import baselines

    methods = {**METHODS, "approxann": baselines.approxann, "axnn": baselines.axnn}
    return methods[name](net, ctx)
