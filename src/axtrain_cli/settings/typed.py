"""Settings from plain values and back to text: `from_dict` types a nested mapping (the
composed config as plain values, or a YAML's) into `Settings`, each key and type checked
with one line (ConfigError); `to_yaml` writes them as config.yaml holds them."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, Optional

import yaml

from ..errors import ConfigError
from .checks import RANGES, did_you_mean
from .methods import SETTINGS
from .schema import MISSING, ModelSpec, Settings, TopologyConf, to_dict

KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def from_dict(values: dict, *, model_factory: Optional[Callable[[dict], Callable]] = None
              ) -> Settings:
    """`values` ({dataset: {...}, topology: {...}, method: {...}, knobs: {...}, ...}; a
    group left out keeps its default) as Settings. `model_factory(topology)`: the factory
    of a `_target_` topology's nn.Module (see ModelSpec); None leaves it to the caller."""
    return typed(Settings, values, "", model_factory)


def typed(cls, values, key: str, model_factory=None):
    """The dataclass `cls` from the mapping `values` (at config key `key`)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{key}={values!r} is not a mapping: allowed {{key: value, ...}}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    for name in values:
        if name not in known:
            where = f"{key}.{name}" if key else str(name)
            extra = (", or _target_ for a network of your own" if cls is TopologyConf else "")
            raise ConfigError(f"{where}: unknown key{did_you_mean(name, known)}; allowed "
                              f"{', '.join(known)}{extra}")
    out = {}
    for name in known:
        if name not in values:
            continue
        where = f"{key}.{name}" if key else name
        value = values[name]
        if cls is Settings and name == "topology":
            out[name] = topology(value, model_factory)
        elif cls is Settings and name == "method":
            out[name] = method(value)
        else:
            out[name] = convert(hints[name], value, where)
    return cls(**out)


def topology(values, model_factory=None):
    """A paper topology (TopologyConf) or a network of your own (ModelSpec)."""
    if isinstance(values, dict) and "_target_" in values:
        config = to_dict(values)
        return ModelSpec(config, model_factory(config) if model_factory else None)
    return typed(TopologyConf, values, "topology")


def method(values):
    """The method's settings, typed by its name's schema (settings.methods.SETTINGS)."""
    if not isinstance(values, dict):
        raise ConfigError(f"method={values!r} is not a mapping: allowed {{name: METHOD, ...}}")
    name = values.get("name", MISSING)
    if name not in SETTINGS:
        raise ConfigError(f"method.name={name!r} is unknown: allowed one of "
                          f"{', '.join(SETTINGS)}{did_you_mean(name, SETTINGS)}")
    return typed(SETTINGS[name][0], values, "method")


def convert(hint, value, key: str):
    """`value` as the type `hint` says (ints as floats where a number is asked for, lists
    and mappings element by element); ConfigError (one line) when it is not."""
    if isinstance(value, str) and value == MISSING:
        return value  # left missing: the checks name it
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return to_dict(value)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(inner[0], value, key)
    if dataclasses.is_dataclass(hint):
        return typed(hint, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            allowed = RANGES.get(key, "a list [a, b, ...]")
            raise ConfigError(f"{key}={value!r} is not a list: allowed {allowed}")
        return [convert(args[0] if args else Any, v, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} is not a mapping: allowed {{key: value, ...}}")
        return {k: convert(args[1] if args else Any, v, f"{key}.{k}") for k, v in value.items()}
    ok = (isinstance(value, hint) and not (hint is int and isinstance(value, bool))
          or hint is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        kind = KINDS.get(hint, hint.__name__)
        raise ConfigError(f"{key}={value!r} is not {kind}: allowed {RANGES.get(key, kind)}")
    return float(value) if hint is float else value


class _Dumper(yaml.SafeDumper):
    """Strings that would read back as another type quoted (as OmegaConf writes them)."""


def _str(dumper, data: str):
    def number(text: str, kind) -> bool:
        try:
            kind(text)
            return True
        except ValueError:
            return False

    quoted = data in _BOOLS or number(data, int) or number(data, float)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'" if quoted else None)


_BOOLS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
          "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"}
_Dumper.add_representer(str, _str)


def to_yaml(settings) -> str:
    """The settings as config.yaml holds them (the resolved config, as OmegaConf writes
    it)."""
    return yaml.dump(to_dict(settings), Dumper=_Dumper, default_flow_style=False,
                     allow_unicode=True, sort_keys=False)
