"""The configs the commands compose (Hydra's compose API), and the composed config as the
library's typed settings (`to_settings`): the one place the command line turns Hydra's
config into `Settings`, and builds a `_target_` network with hydra.utils.instantiate."""

from __future__ import annotations

import logging
import re
import warnings
from importlib.resources import files
from pathlib import Path

from ..errors import ConfigError


def config_dir() -> str:
    """Absolute path of the shipped configs (works for editable and regular installs)."""
    return str(Path(str(files("axtrain_cli.conf"))).resolve())


def register_configs() -> None:
    """The library's settings dataclasses as the schemas of the composed config, at the
    root of the ConfigStore (so no group lists them as options)."""
    from hydra.core.config_store import ConfigStore

    from ..settings import METHODS, Settings
    from ..settings.methods import ActConf

    cs = ConfigStore.instance()
    cs.store(name="axtrain_schema", node=Settings)
    for name, (schema, _) in METHODS.items():
        cs.store(name=f"method_{name}_schema", node=schema)
    # act's settings alone (no checkpoint): the baselines' `method.act`
    cs.store(name="method_act_settings_schema", node=ActConf)


def compose(overrides: list[str], hydra: bool = False):
    """The job config of `overrides` (Hydra's compose API; `hydra`: with its `hydra` node)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
                cfg = hydra_compose(config_name="config", overrides=list(overrides),
                                    return_hydra_config=hydra)
        finally:  # a search path that is not there first: it explains what follows
            _check_searchpath(said)
    for w in said:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return cfg


def _check_searchpath(said) -> None:
    """A hydra.searchpath entry Hydra could not find (it only warns, and then says the
    configs in it are unknown options) as a ConfigError."""
    for w in said:
        m = re.search(r"provider=hydra.searchpath in (?:command-line|main), path=(.*) is not "
                      r"available", str(w.message))
        if m:
            path = m.group(1)
            where = "" if Path(path).is_absolute() else f" ({Path(path).resolve()})"
            raise ConfigError(f"hydra.searchpath: {path} is not found{where}: allowed folders "
                              "of configs (file:///ABSOLUTE/PATH or file://RELATIVE/PATH) or "
                              "pkg://PACKAGE entries")


def explicit_keys(overrides) -> set[str]:
    """The config keys the overrides set (group choices included), e.g. {'dataset.name'}."""
    return {str(o).lstrip("+~").split("=", 1)[0] for o in overrides if "=" in str(o)}


def to_settings(cfg, overrides=()):
    """The composed job config (without its `hydra` node) as the library's Settings, with
    what the config leaves to be filled in completed (a data file of yours names and sizes
    its dataset unless `overrides` set those keys). ConfigError (one line) for a value of
    the wrong type or an unknown key."""
    from omegaconf import OmegaConf

    from ..pipeline import complete
    from ..settings import from_dict

    values = {}
    for key in cfg:  # resolved, but for the `hydra` node (its job keys are set per job)
        if key != "hydra":
            node = cfg[key]
            values[key] = (OmegaConf.to_container(node, resolve=True)
                           if OmegaConf.is_config(node) else node)
    settings = from_dict(values, model_factory=model_factory)
    complete(settings, "dataset.name" in explicit_keys(overrides))
    return settings


def model_factory(config: dict):
    """`factory(input_shape, n_classes)` of a `_target_` topology: hydra.utils.instantiate
    of its config, given the dataset's input_shape and n_classes where the class or
    function takes them (networks.build.with_shape checks its arguments)."""
    target = str(config["_target_"])
    args = {k: v for k, v in config.items() if k not in ("_target_", "name", "output_activation")}

    def make(input_shape, n_classes):
        from hydra.utils import get_object, instantiate

        from ..errors import NetworkError
        from ..networks import with_shape

        quiet = logging.getLogger("hydra.utils")  # it logs the error we print as one line
        level, quiet.disabled = quiet.disabled, True
        try:
            obj = get_object(target)
        except Exception as e:
            why = " ".join(str(e).split())
            raise NetworkError(f"topology._target_={target}: cannot import {target} ({why[:160]}); "
                               "put its file on the Python path (e.g. PYTHONPATH=.)") from None
        finally:
            quiet.disabled = level
        return with_shape(obj, target, args, input_shape, n_classes,
                          lambda kwargs: instantiate({"_target_": target, **kwargs},
                                                     _convert_="all"))

    return make


def settings_of(overrides=(), check: bool = True):
    """The Settings `axtrain train OVERRIDES` runs (Hydra's compose API: no Hydra run, no
    working-directory change), with `check` validated. Bad values raise ConfigError or
    DataError (one line); an unknown key or option raises Hydra's error."""
    from ..pipeline import validate

    overrides = list(overrides)
    settings = to_settings(compose(overrides), overrides)
    if check:
        validate(settings)
    return settings
