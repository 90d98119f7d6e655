"""Training methods: one module each, with its config schema (`Conf`, registered in Hydra's
ConfigStore as `method_<name>_schema`, which conf/method/<name>.yaml extends), its range
checks (`check(cfg)`, run before any work) and `train(net, ctx) -> Trained`.

bp         conventional backpropagation on the output error
act        AxTrain-act: E + gamma * S(w) (Eqs. 4-6), gamma adapted once per epoch (3.1.3)
pas        AxTrain-pas: train through one hardware knob, STE backward
axtrain    act, then one pas fine-tune per approximate knob of the sweep
approxann  ApproxANN (our reconstruction): approximate the least critical neurons
axnn       AxNN: precision scaling of resilient neurons
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ..config import choice
from . import act, approxann, axnn, axtrain, bp, pas
from .base import Context, Trained

METHODS = {m.Conf.name: m for m in (bp, act, pas, axtrain, approxann, axnn)}


def register_configs() -> None:
    cs = ConfigStore.instance()
    for name, module in METHODS.items():
        cs.store(name=f"method_{name}_schema", node=module.Conf)
    # act's settings alone (no checkpoint): the baselines' `method.act`
    cs.store(name="method_act_settings_schema", node=act.ActConf)


def check(cfg) -> None:
    """The method's name, its settings' types (its schema, as `typed` reads them) and its
    own checks."""
    choice(cfg, "method.name", tuple(METHODS))
    typed(cfg)
    METHODS[cfg.method.name].check(cfg)


def typed(cfg):
    """cfg.method as its module's Conf dataclass."""
    values = OmegaConf.to_container(cfg.method, resolve=True)
    return OmegaConf.to_object(OmegaConf.merge(
        OmegaConf.structured(METHODS[cfg.method.name].Conf), values))


def train(net, ctx: Context) -> Trained:
    return METHODS[ctx.m.name].train(net, ctx)


__all__ = ["METHODS", "Context", "Trained", "check", "register_configs", "train", "typed"]
