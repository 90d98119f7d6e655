"""AxTrain-pas (paper section 3.2): train through the hardware model of `knob` (a fresh read
of a stochastic memory at every forward pass), straight-through estimator (Eq. 12)
backward; from scratch or from `checkpoint`, for train.epochs at train.lr."""

from __future__ import annotations

from .. import knobs
from ..settings.methods import PasConf
from .base import (Context, Trained, check_checkpoint, check_gradient, check_knob, fit_net,
                   knob_step, load_start)


def check(cfg) -> None:
    check_knob(cfg)
    check_gradient(cfg, [cfg.method.knob])
    check_checkpoint(cfg)


def train_for(net, ctx: Context, knob: knobs.Knob, epochs: int, lr: float, ste_clip: float,
              label: str) -> list[dict]:
    """pas through `knob` for `epochs` at `lr`, backward by method.gradient."""
    m = ctx.m
    step = knob_step(knob, ctx.cfg, ctx.split.n_classes, ctx.draw_generator, ste_clip,
                     m.gradient, m.gradient_window)
    return fit_net(net, ctx, step, epochs, lr, label)


def train(net, ctx: Context) -> Trained:
    m, t = ctx.m, ctx.cfg.train
    if m.checkpoint:
        load_start(net, ctx)
    knob = knobs.resolve(m.knob, ctx.cfg)
    history = train_for(net, ctx, knob, t.epochs, t.lr, m.ste_clip, f"pas@{knob.name}")
    return Trained(net, train_knob=m.knob, history=history)


Conf = PasConf  # the method's schema, under the name the registry reads
