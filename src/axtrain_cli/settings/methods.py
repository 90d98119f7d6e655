"""Every method's settings: its schema (a dataclass that conf/method/<name>.yaml extends,
registered in Hydra's ConfigStore as `method_<name>_schema` by the command line) and the
checks of its values that need no data, network or hardware model. Importing this module
imports no torch, so a bad setting is reported in a fraction of a second; the checks that
load something (a checkpoint, a knob's hardware model) are the method modules' own
`check(settings)`.

bp         conventional backpropagation on the output error
act        AxTrain-act: E + gamma * S(w) (Eqs. 4-6), gamma adapted once per epoch (3.1.3)
pas        AxTrain-pas: train through one hardware knob, STE backward
axtrain    act, then one pas fine-tune per approximate knob of the sweep
approxann  ApproxANN (our reconstruction): approximate the least critical neurons
axnn       AxNN: precision scaling of resilient neurons
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .checks import choice, knob_names, require, select


@dataclass
class BpConf:
    name: str = "bp"
    checkpoint: Optional[str] = None  # a bp run's model.pt: evaluate it, no training


@dataclass
class ActConf:
    name: str = "act"
    gamma0: float = 0.001  # open in the paper: initial preference factor (conf: dataset.act_gamma0)
    delta_gamma: float = 0.0005  # open: step of the once-per-epoch adaptive rule (3.1.3)
    error_bound: float = 0.0  # open: the rule's "pre-defined accuracy bound" on the error
    error_metric: str = "loss"  # what "error" means in the rule: loss | misclassification
    sensitivity: str = "per_sample"  # per-sample |dO/dw| averaged over the batch | batch_mean
    outputs: str = "all"  # ours: Eq. 5's sum over all K outputs | sampled (one per sample, x K)


@dataclass
class ActRunConf(ActConf):
    """method=act: the act settings, and a network to evaluate instead of training one."""

    checkpoint: Optional[str] = None  # an act run's model.pt: evaluate it, no training


@dataclass
class PasConf:
    name: str = "pas"
    knob: str = "K1"  # the knob to train through (any approximate knob of `knobs`)
    checkpoint: Optional[str] = None  # a model.pt of an earlier run to fine-tune, or null
    ste_clip: float = 1.0  # Eq. 12 (reconstructed): zero gradients with |g| >= ste_clip
    # the backward pass through the multiplier (docs/gradients.md): ste (the exact product's)
    # | difference (smoothed differences of its products) | slope (least-squares slopes)
    gradient: str = "ste"
    gradient_window: int = 4  # difference: the smoothing's half-width, in 1/256 of the range


@dataclass
class AxtrainConf(ActConf):
    name: str = "axtrain"
    finetune_epochs: int = 10  # pas epochs per knob ("a few more epochs"; 10 for MNIST)
    finetune_lr: Optional[float] = None  # null: train.lr
    ste_clip: float = 1.0  # Eq. 12 (reconstructed)
    gradient: str = "ste"  # the fine-tunes' backward pass: ste | difference | slope
    gradient_window: int = 4  # difference: the smoothing's half-width, in 1/256 of the range
    checkpoint: Optional[str] = None  # an act run's model.pt: skip the act phase


@dataclass
class BaselineConf:
    """What the neuron-level baselines share: the starting network (trained here with
    `init`, or `checkpoint`) and the retraining between their iterations."""

    init: str = "bp"  # bp | act: how the starting network is trained
    checkpoint: Optional[str] = None  # a model.pt of a run of `init` instead of training it
    act: ActConf = field(default_factory=ActConf)  # the act settings for init=act
    retrain_epochs: int = 1  # retraining epochs per iteration
    retrain_lr: Optional[float] = None  # null: train.lr
    ste_clip: float = 1.0  # Eq. 12 (reconstructed), for the retraining
    max_iterations: int = 50  # guard so the loop always terminates


APPROXANN_CONSTRAINTS = ("accuracy", "error")


@dataclass
class ApproxannConf(BaselineConf):
    name: str = "approxann"
    knob: str = "K1"  # the approximate multiplier's knob (a compute knob: K1..K4, ...)
    max_loss: float = 2.0  # allowed degradation (paper: "2 %"), read as `constraint` says
    constraint: str = "accuracy"  # accuracy: points of accuracy; error: % rise of test loss
    batch_fraction: float = 0.25  # first batch: this fraction of all neurons
    gradient: str = "ste"  # the retraining's backward pass: ste | difference | slope
    gradient_window: int = 4  # difference: the smoothing's half-width, in 1/256 of the range


@dataclass
class AxnnConf(BaselineConf):
    name: str = "axnn"
    constraints: list[float] = field(default_factory=lambda: [0.5, 2.5, 7.5])  # allowed loss (pp)
    alpha: float = 0.5  # resilient: Delta(N) < alpha * mean(Delta)
    start_bits: int = 16  # starting precision of inputs and weights
    bit_step: int = 2  # precision lowered per step
    min_bits: int = 4  # floor
    retrain_epochs: int = 2  # K: retraining epochs per iteration (AxNN: 2)


# ------------------------------------------------------------------------------- checks
def check_act(cfg, key: str = "method") -> None:
    """The act settings under `key` (method, or the baselines' method.act)."""
    a = select(cfg, key)
    require(cfg, f"{key}.gamma0", a.gamma0 >= 0, "a number >= 0")
    require(cfg, f"{key}.delta_gamma", a.delta_gamma >= 0, "a number >= 0")
    choice(cfg, f"{key}.sensitivity", ("per_sample", "batch_mean"))
    choice(cfg, f"{key}.error_metric", ("loss", "misclassification"))
    choice(cfg, f"{key}.outputs", ("all", "sampled"))
    require(cfg, f"{key}.outputs", a.outputs == "all" or a.sensitivity == "per_sample",
            f"all with {key}.sensitivity={a.sensitivity} (sampled estimates the per_sample S)")


GRADIENTS = ("ste", "difference", "slope")  # hardware.gradients.GRADIENTS


def check_ste_clip(cfg) -> None:
    require(cfg, "method.ste_clip", cfg.method.ste_clip > 0, "a number > 0")
    if hasattr(cfg.method, "gradient"):
        choice(cfg, "method.gradient", GRADIENTS)
        require(cfg, "method.gradient_window", 1 <= cfg.method.gradient_window <= 127,
                "an integer in 1..127 (a moving average no wider than the word range)")


def positive_lr(cfg, key: str) -> None:
    value = select(cfg, key)
    require(cfg, key, value is None or value > 0, "a number > 0 or null (null: train.lr)")


def check_knob_name(cfg) -> None:
    """method.knob names a knob (its kind is checked once the knob's model is built)."""
    allowed = knob_names(cfg)
    require(cfg, "method.knob", cfg.method.knob in allowed, "one of " + ", ".join(allowed),
            problem="names no knob")


def check_baseline(cfg) -> None:
    m = cfg.method
    choice(cfg, "method.init", ("bp", "act"))
    check_act(cfg, "method.act")
    require(cfg, "method.retrain_epochs", m.retrain_epochs >= 1, "an integer >= 1")
    positive_lr(cfg, "method.retrain_lr")
    check_ste_clip(cfg)
    require(cfg, "method.max_iterations", m.max_iterations >= 1, "an integer >= 1")


def _approxann(cfg) -> None:
    m = cfg.method
    check_baseline(cfg)
    check_knob_name(cfg)
    require(cfg, "method.max_loss", 0 < m.max_loss < 100, "a percentage in (0, 100)")
    choice(cfg, "method.constraint", APPROXANN_CONSTRAINTS)
    require(cfg, "method.batch_fraction", 0 < m.batch_fraction <= 1, "a fraction in (0, 1]")


def _axnn(cfg) -> None:
    m, bits = cfg.method, cfg.hardware.bits
    check_baseline(cfg)
    require(cfg, "method.constraints", len(m.constraints) > 0
            and len(set(m.constraints)) == len(m.constraints),
            "a non-empty list of distinct accuracy losses (points)")
    for i, q in enumerate(m.constraints):
        require(cfg, f"method.constraints.{i}", 0 < q < 100, "a percentage in (0, 100)")
    require(cfg, "method.alpha", m.alpha > 0, "a number > 0")
    require(cfg, "method.min_bits", 2 <= m.min_bits <= m.start_bits <= bits,
            f"2 <= min_bits <= start_bits <= hardware.bits ({bits})")
    require(cfg, "method.bit_step", m.bit_step >= 1, "an integer >= 1")


def _axtrain(cfg) -> None:
    check_act(cfg)
    require(cfg, "method.finetune_epochs", cfg.method.finetune_epochs >= 1, "an integer >= 1")
    positive_lr(cfg, "method.finetune_lr")
    check_ste_clip(cfg)


def _pas(cfg) -> None:
    check_knob_name(cfg)
    check_ste_clip(cfg)


# name -> (schema, checks of its settings)
SETTINGS = {"bp": (BpConf, lambda cfg: None), "act": (ActRunConf, check_act),
            "pas": (PasConf, _pas), "axtrain": (AxtrainConf, _axtrain),
            "approxann": (ApproxannConf, _approxann), "axnn": (AxnnConf, _axnn)}


def check(cfg) -> None:
    """The method's name and the ranges of its settings."""
    choice(cfg, "method.name", tuple(SETTINGS))
    SETTINGS[cfg.method.name][1](cfg)
