"""Hydra's and OmegaConf's errors as one line, in plain words: a bad override, an unknown
key or option with the closest valid name, a value of the wrong type with what is
allowed."""

from __future__ import annotations

import re
import sys

EXIT_USAGE = 2
ARGS: list[str] = []  # the overrides being checked (for naming a bad one)
TYPES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print `axtrain: error: MESSAGE` and exit (2: a usage error)."""
    print(f"axtrain: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def one_line(exc: BaseException) -> str:
    """The most specific message in an exception chain, on one line."""
    from omegaconf.errors import OmegaConfBaseException

    from ..settings import RANGES

    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if type(e).__name__ == "OverrideParseException":
            return _bad_override(e)
        if isinstance(e, OmegaConfBaseException) and getattr(e, "full_key", None):
            key = e.full_key
            msg = str(getattr(e, "msg", e)).splitlines()[0]
            wrong = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", msg)
            if wrong:  # a value of the wrong type
                value, kind = wrong.groups()
                kind = TYPES.get(kind, kind.lower())
                return f"{key}={value!r} is not {kind}: allowed {RANGES.get(key, kind)}"
            allowed = f" (allowed: {RANGES[key]})" if key in RANGES else ""
            return f"{key}: {msg}{allowed}"
    return " ".join(str(chain[-1]).split())


def _bad_override(exc) -> str:
    """Which override Hydra could not parse, and why, on one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for o in getattr(exc, "overrides", None) or ARGS:
        try:
            parser.parse_override(o)
        except Exception as e:
            why = " ".join(str(getattr(e, "message", None) or e).split())
            why = "" if why in ("", "None") else f" ({why})"
            return (f"{o!r} is not a valid override{why}: allowed key=value, a sweep "
                    "a,b or choice(a,b) or range(0,3), lists [a,b], dicts {k: v}")
    return " ".join(str(exc).split())


def compose_error(exc: BaseException, overrides: list[str]) -> str:
    """A composition error on one line, in plain words: an unknown key or option with the
    closest valid name, Hydra's "use +" hint where adding a key is what was meant."""
    from hydra.errors import MissingConfigException

    from ..settings import did_you_mean

    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if isinstance(e, MissingConfigException) and e.options is not None:
            group = str(e.missing_cfg_file or "").rsplit("/", 1)[0]
            given = next((o for o in overrides if o.lstrip("+~").split("=", 1)[0] == group),
                         group)
            value = given.split("=", 1)[-1]
            return (f"{given}: {group} has no option {value!r}{did_you_mean(value, e.options)}; "
                    f"allowed {', '.join(e.options)}")
        key = getattr(e, "full_key", None)
        if type(e).__name__ in ("ConfigAttributeError", "ConfigKeyError") and key:
            parent, _, name = key.rpartition(".")
            if "not in struct" in str(e) and "Dict[" in str(e):  # a mapping: add with +
                return (f"{key}: no such entry in {parent}; to add one, prefix it with +: "
                        f"'+{_override_of(key, overrides)}'")
            rest = [o for o in overrides if not o.lstrip("+~").startswith(key)]
            known = _keys_of(parent, rest)
            part = re.fullmatch(r"knobs\.[^.]+\.(multiplier|memory)", parent)
            if part and "name" in known:  # a hardware model: all its parameters
                known = ["name", *_parameters(part.group(1), parent, rest)]
            return (f"{key}: unknown key{did_you_mean(name, known)}"
                    + (f"; allowed {', '.join(known)}" if known else ""))
    return one_line(chain[0])


def _override_of(key: str, overrides: list[str]) -> str:
    return next((o.lstrip("+~") for o in overrides if o.lstrip("+~").startswith(key + "=")), key)


def _parameters(part: str, node: str, overrides: list[str]) -> list[str]:
    """The parameters of the multiplier or memory model the config node `node` names."""
    import dataclasses

    from omegaconf import OmegaConf

    try:
        from .. import hardware
        from .compose import compose

        name = OmegaConf.select(compose(overrides), f"{node}.name")
        registry = hardware.MULTIPLIERS if part == "multiplier" else hardware.MEMORIES
        return [f.name for f in dataclasses.fields(registry.get(name))]
    except Exception:
        return []


def _keys_of(parent: str, overrides: list[str]) -> list[str]:
    """The keys of the config node `parent` ('' the root) under `overrides` (those that
    compose), for suggestions; [] if they do not compose."""
    from omegaconf import OmegaConf

    from .compose import compose

    try:
        node = compose(overrides)
        node = OmegaConf.select(node, parent) if parent else node
        return [str(k) for k in node.keys()] if hasattr(node, "keys") else []
    except Exception:
        return []
