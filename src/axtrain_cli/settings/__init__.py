"""Typed settings: what a run is told, as dataclasses (the schemas Hydra's config extends
at the command line), their checks before any work (one line each, ConfigError), and
their plain form (config.yaml, the settings hash).

    schema   one dataclass per config group, `Settings` the whole, ModelSpec, to_dict
    methods  each method's settings and checks (settings.methods.SETTINGS)
    checks   ranges, choices and names of plain values
    typed    from_dict (plain values -> Settings, types checked), to_yaml
"""

from .checks import RANGES, check_common, choice, did_you_mean, knob_names, require, select
from .methods import SETTINGS as METHODS
from .methods import check as check_method
from .schema import (
    MISSING,
    DatasetConf,
    EvalConf,
    HardwareConf,
    ModelSpec,
    Settings,
    TopologyConf,
    TrackingConf,
    TrainConf,
    to_dict,
)
from .typed import from_dict, to_yaml


def check_settings(settings: Settings) -> None:
    """Every check of plain values (ranges, choices, names, the method's settings): the
    first bad key as ConfigError (one line). Imports no torch."""
    check_common(settings)
    check_method(settings)


__all__ = ["METHODS", "MISSING", "RANGES", "DatasetConf", "EvalConf", "HardwareConf",
           "ModelSpec", "Settings", "TopologyConf", "TrackingConf", "TrainConf",
           "check_settings", "choice", "did_you_mean", "from_dict", "knob_names", "require",
           "select", "to_dict", "to_yaml"]
