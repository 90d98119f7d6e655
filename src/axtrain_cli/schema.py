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


def complete(cfg: DictConfig, explicit=()) -> None:
    """What a composed config leaves to be filled in: a paper topology's defaults, and what
    a data file of yours says of itself (`explicit`: the keys the overrides set)."""
    from .config import complete_topology
    from .datafiles import resolve_user_data

    complete_topology(cfg)
    resolve_user_data(cfg, explicit)


def check_settings(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key (one line): every check of plain values."""
    from .methods.settings import check as check_method

    check_common(cfg)
    check_method(cfg)


def check_network(cfg: DictConfig) -> None:
    """A network of your own (topology._target_) imports, builds from its arguments and the
    dataset's input shape, runs, has a product on the hardware and gives n_classes
    outputs; the share of its products on the hardware is at least hardware.min_coverage."""
    if "_target_" not in cfg.topology and cfg.hardware.get("min_coverage") is None:
        return
    from .config import ConfigError
    from .methods.base import network_of
    from .networks import NetworkError

    try:
        net = network_of(cfg)
    except NetworkError as e:
        raise ConfigError(str(e)) from None
    least = cfg.hardware.get("min_coverage")
    if least is not None and net.coverage.share < least:
        raise ConfigError(f"hardware.min_coverage={least}: {net.coverage.describe()} (allowed "
                          "a network whose share on the hardware is at least that)")


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
    check_network(cfg)
    methods.check(cfg)
    d = cfg.dataset
    if d.path is not None and data:
        load_split(d, cfg.seed)
    elif d.source in PACKAGES:
        package_file(d.source, d.file if d.source == "keel" else MNIST_FILE)
