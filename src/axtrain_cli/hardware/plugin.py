"""What every hardware plug-in shares: a model is a frozen dataclass of its parameters,
registered under a short name; a knob names it by that name or by its import path
(`module.Class`, the module on PYTHONPATH), with its parameters beside the name:

    multiplier: {name: drum, k: 4}
    memory: {name: my_memories.StuckAtZero, voltage_mv: 500, rate: 0.01}
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, ClassVar, Mapping


def require(param: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise ValueError("param=value is out of range: allowed ...") unless ok."""
    if not ok:
        raise ValueError(f"{param}={value!r} is out of range: allowed {allowed}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class HardwareModel:
    """Base of multipliers and memories: `name` is the registry key; the dataclass fields
    are the parameters a knob sets."""

    name: ClassVar[str] = ""

    def check(self, bits: int) -> None:
        """Raise ValueError (one line, naming the parameter) if a parameter is bad for
        `bits`-bit words. Called before any work."""

    def parameters(self) -> dict:
        """{parameter: value} of the model."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def label(self) -> str:
        """`name(param=value, ...)`, as written in results.csv (parameters left unset, None,
        are not written)."""
        params = ", ".join(f"{f.name}={_fmt(getattr(self, f.name))}"
                           for f in dataclasses.fields(self) if getattr(self, f.name) is not None)
        return f"{self.name}({params})" if params else self.name


def without_unset(label: str) -> str:
    """A label as earlier versions wrote it, with `param=None` entries, in today's form
    (`reliable(voltage_mv=None)` -> `reliable`)."""
    import re

    label = re.sub(r"(, )?\b\w+=None\b(?=[,)])", "", str(label))
    return re.sub(r"\(, ", "(", label).replace("()", "")


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class Registry:
    """Models of one kind (multiplier or memory) by name."""

    def __init__(self, what: str, base: type):
        self.what, self.base = what, base
        self._classes: dict[str, type] = {}

    def register(self, cls: type) -> type:
        """Class decorator: make `cls` (a dataclass subclass of the base) known by cls.name."""
        if not (issubclass(cls, self.base) and dataclasses.is_dataclass(cls) and cls.name):
            raise TypeError(f"{cls.__name__} must be a dataclass subclass of "
                            f"{self.base.__name__} with a name")
        self._classes[cls.name] = cls
        return cls

    def names(self) -> list[str]:
        return sorted(self._classes)

    def get(self, name: str) -> type:
        """The class registered as `name`, or imported from the path `module.Class`."""
        if isinstance(name, str) and name in self._classes:
            return self._classes[name]
        allowed = f"{', '.join(self.names())}, or an import path module.Class"
        module, _, attr = str(name).rpartition(".")
        if not isinstance(name, str) or not module:
            raise ValueError(f"name={name!r} is not a known {self.what}: allowed {allowed}")
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError as e:
            raise ValueError(f"name={name!r}: cannot import {module} ({e}); put its file on "
                             "PYTHONPATH (e.g. PYTHONPATH=. axtrain train ...)") from None
        if not (isinstance(cls, type) and issubclass(cls, self.base)
                and dataclasses.is_dataclass(cls)):
            raise ValueError(f"name={name!r} is not a {self.what}: allowed {allowed} "
                             f"(a dataclass subclass of {self.base.__module__}."
                             f"{self.base.__name__})")
        return cls

    def build(self, spec: Mapping, bits: int):
        """An instance from {name: ..., param: value, ...}, checked for `bits`-bit words."""
        spec = dict(spec)
        cls = self.get(spec.pop("name", None))
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in spec.items():
            if key not in fields:
                raise ValueError(f"{key}={value!r} is not a parameter of {cls.name}: allowed "
                                 f"{', '.join(fields) or 'none'}")
        for key, f in fields.items():
            no_default = (f.default is dataclasses.MISSING
                          and f.default_factory is dataclasses.MISSING)
            if key not in spec and no_default:
                required = [k for k, g in fields.items() if g.default is dataclasses.MISSING
                            and g.default_factory is dataclasses.MISSING]
                raise ValueError(f"{key} is missing: allowed {cls.name} with "
                                 f"{', '.join(required)} set (optional: "
                                 f"{', '.join(k for k in fields if k not in required) or 'none'})")
        model = cls(**spec)
        model.check(bits)
        return model
