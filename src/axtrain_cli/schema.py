"""The whole config: its schemas in Hydra's ConfigStore, and its checks in two stages,
both before any work: `check_settings(cfg)` (ranges, choices, names, the method's
settings: imports no torch, scikit-learn or matplotlib, so a mistake costs a fraction of a
second) and `validate(cfg)` (those, then what needs the hardware models, a checkpoint, the
data files or the device)."""

from __future__ import annotations

from omegaconf import DictConfig

from . import methods
from .config import AxConf, check_common, check_device


def register_configs() -> None:
    """The schemas, at the root of the ConfigStore (so no group lists them as options)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="axtrain_schema", node=AxConf)
    methods.register_configs()


def check_settings(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key (one line): every check of plain values."""
    from .methods.settings import check as check_method

    check_common(cfg)
    check_method(cfg)


def validate(cfg: DictConfig, data: bool = True) -> None:
    """Raise ConfigError naming the first bad key (one line), or DataError for a data file
    of the user's (dataset.path) that cannot be read or split (data=False: left to the
    caller, who loads the data next anyway)."""
    from . import knobs, tracking
    from .data import MNIST_FILE, PACKAGES, load_split, package_file

    check_settings(cfg)
    check_device(cfg)
    tracking.check(cfg)
    knobs.check(cfg)
    methods.check(cfg)
    d = cfg.dataset
    if d.path is not None and data:
        load_split(d, cfg.seed)
    elif d.source in PACKAGES:
        package_file(d.source, d.file if d.source == "keel" else MNIST_FILE)
