"""The whole config: its schemas in Hydra's ConfigStore, and `validate(cfg)`, which runs
every check (common ranges, the knobs, the method's own) before any work."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from . import knobs, methods
from .config import AxConf, check_common


def register_configs() -> None:
    """The schemas, at the root of the ConfigStore (so no group lists them as options)."""
    ConfigStore.instance().store(name="axtrain_schema", node=AxConf)
    methods.register_configs()


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key (one line)."""
    check_common(cfg)
    knobs.check(cfg)
    methods.check(cfg)
