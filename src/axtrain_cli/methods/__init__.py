"""Training methods: one module each, with `check(cfg)` (the checks that load something: a
checkpoint, a knob's hardware model) and `train(net, ctx) -> Trained`. Their settings (the
schemas conf/method/<name>.yaml extends, and the checks of plain values) are in
`axtrain_cli.settings.methods`, which imports no torch, so a bad setting costs no
start-up; its docstring lists the methods.
"""

from __future__ import annotations

import importlib

from ..settings.methods import SETTINGS
from ..settings.methods import check as check_settings

NAMES = tuple(SETTINGS)


def module(name: str):
    """The method's module (imported when first needed: it imports torch)."""
    return importlib.import_module(f".{name}", __name__)


def check(cfg) -> None:
    """Every check of the method: its settings, then what they load."""
    check_settings(cfg)
    module(cfg.method.name).check(cfg)


def train(net, ctx):
    return module(ctx.m.name).train(net, ctx)


def planned_epochs(cfg) -> int:
    """The training epochs a run of `cfg` plans, over all its phases (for the time-left
    estimate): a checkpoint's network is not trained again (pas fine-tunes it); AxTrain
    adds a fine-tune per approximate knob; the baselines count every retraining iteration
    up to their max_iterations."""
    m, epochs = cfg.method, cfg.train.epochs
    start = 0 if m.checkpoint and m.name != "pas" else epochs
    if m.name == "axtrain":
        tuned = module("axtrain").tuned_knobs(cfg)
        return start + m.finetune_epochs * len(tuned)
    if m.name in ("approxann", "axnn"):
        rounds = len(m.constraints) if m.name == "axnn" else 1
        return start + m.retrain_epochs * m.max_iterations * rounds
    return start


__all__ = ["NAMES", "check", "module", "planned_epochs", "train"]
