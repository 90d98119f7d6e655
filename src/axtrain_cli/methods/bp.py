"""BP: conventional backpropagation on the output error (`train.loss`), no hardware
knowledge."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Context, Trained, train_bp


@dataclass
class BpConf:
    name: str = "bp"


def check(cfg) -> None:
    """Nothing beyond the common settings."""


def train(net, ctx: Context) -> Trained:
    return Trained(net, history=train_bp(net, ctx))


Conf = BpConf  # the method's schema, under the name the registry reads
