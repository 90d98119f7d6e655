"""The whole config: its schemas in Hydra's ConfigStore, and `validate(cfg)`, which runs
every check (common ranges, the knobs, the method's own) before any work."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from . import knobs, methods, tracking
from .config import AxConf, check_common
from .data import MNIST_FILE, PACKAGES, load_split, package_file


def register_configs() -> None:
    """The schemas, at the root of the ConfigStore (so no group lists them as options)."""
    ConfigStore.instance().store(name="axtrain_schema", node=AxConf)
    methods.register_configs()


def validate(cfg: DictConfig, data: bool = True) -> None:
    """Raise ConfigError naming the first bad key (one line), or DataError for a data file
    of the user's (dataset.path) that cannot be read or split (data=False: left to the
    caller, who loads the data next anyway)."""
    check_common(cfg)
    tracking.check(cfg)
    knobs.check(cfg)
    methods.check(cfg)
    d = cfg.dataset
    if d.path is not None and data:
        load_split(d, cfg.seed)
    elif d.source in PACKAGES:
        package_file(d.source, d.file if d.source == "keel" else MNIST_FILE)
