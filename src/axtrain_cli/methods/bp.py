"""BP: conventional backpropagation on the output error (`train.loss`), no hardware
knowledge. With `checkpoint`, an earlier run's network is evaluated instead of trained
(e.g. the same networks on another knob set)."""

from __future__ import annotations

from ..settings.methods import BpConf
from .base import Context, Trained, check_checkpoint, load_start, train_bp


def check(cfg) -> None:
    check_checkpoint(cfg)


def train(net, ctx: Context) -> Trained:
    if ctx.m.checkpoint:
        load_start(net, ctx)
        return Trained(net)
    return Trained(net, history=train_bp(net, ctx))


Conf = BpConf  # the method's schema, under the name the registry reads
