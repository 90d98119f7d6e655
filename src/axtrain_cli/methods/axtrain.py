"""AxTrain (paper section 4): act until the schedule ends (or start from `checkpoint`, an
act run's model.pt), then one pas fine-tune of `finetune_epochs` per approximate knob of
eval.knobs: the K1 rows come from the network tuned at K1, and so on."""

from __future__ import annotations

import copy

from .. import knobs
from ..settings.methods import AxtrainConf
from . import act, pas
from .base import Context, Trained, check_checkpoint, check_gradient, load_start


def check(cfg) -> None:
    check_checkpoint(cfg)
    check_gradient(cfg, tuned_knobs(cfg))


def tuned_knobs(cfg) -> list[str]:
    """The knobs of eval.knobs AxTrain fine-tunes for: every approximate one."""
    return [n for n in cfg.eval.knobs if knobs.resolve(n, cfg).domain not in ("float", "exact")]


def train(net, ctx: Context) -> Trained:
    m, cfg = ctx.m, ctx.cfg
    if m.checkpoint:
        load_start(net, ctx)
        history, figures = [], {}
    else:
        history, gamma = act.train_act(net, ctx, m)
        figures = {"final_gamma": gamma}
    per_knob = {}
    for name in tuned_knobs(cfg):
        tuned = copy.deepcopy(net)
        history += pas.train_for(tuned, ctx, knobs.resolve(name, cfg), m.finetune_epochs,
                                 m.finetune_lr or cfg.train.lr, m.ste_clip, f"pas@{name}")
        per_knob[name] = tuned
    return Trained(net, per_knob=per_knob, history=history, figures=figures)


Conf = AxtrainConf  # the method's schema, under the name the registry reads
