"""Before any work: what the settings leave to be filled in (`complete`), and every check,
the plain values' first (settings.check_settings, no torch), then what needs the hardware
models, a checkpoint, the data files or the device (`validate`). Each raises ConfigError
naming the first bad key (one line), or DataError for a data file that cannot be read."""

from __future__ import annotations

from ..errors import ConfigError, NetworkError
from ..settings import ModelSpec, Settings, check_settings


def complete(settings: Settings, name_given: bool = False) -> None:
    """What a data file of yours (dataset.path) says of itself: the run is named after the
    file unless `name_given` (dataset.name was set explicitly); a table's input width and
    number of classes where the dataset leaves them null."""
    if settings.dataset.path is None:
        return
    from ..data.user import resolve_user_data

    resolve_user_data(settings, name_given)


def torch_device(name: str):
    """The torch device of a `device` setting: auto is cuda when this machine has it."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def check_device(settings: Settings) -> None:
    """device=cuda needs a CUDA device (asks torch)."""
    import torch

    if settings.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device=cuda: this machine has no CUDA device (torch "
                          f"{torch.__version__}); allowed here cpu, auto")


def check_network(settings: Settings) -> None:
    """A network of your own (topology._target_) builds from its arguments and the
    dataset's input shape, runs, has a product on the hardware and gives n_classes
    outputs; the share of its products on the hardware is at least hardware.min_coverage."""
    from .. import knobs

    least = settings.hardware.min_coverage
    layered = [name for name, spec in settings.knobs.items() if spec.get("layers")]
    if not isinstance(settings.topology, ModelSpec) and least is None and not layered:
        return
    from ..networks import network_of

    try:
        net = network_of(settings)
    except NetworkError as e:
        raise ConfigError(str(e)) from None
    if least is not None and net.coverage.share < least:
        raise ConfigError(f"hardware.min_coverage={least}: {net.coverage.describe()} (allowed "
                          "a network whose share on the hardware is at least that)")
    for name in layered:  # every per-layer entry names a layer of this network
        knobs.build(name, settings.knobs[name], settings.hardware.bits).check_units(net.units)


def validate(settings: Settings, data: bool = True) -> None:
    """Every check (data=False: the data file of yours is left to the caller, who loads it
    next anyway)."""
    from .. import knobs, methods
    from ..data import MNIST_FILE, PACKAGES, load_split, package_file
    from ..results import tracking

    check_settings(settings)
    check_device(settings)
    tracking.check(settings)
    knobs.check(settings)
    check_network(settings)
    methods.check(settings)
    d = settings.dataset
    if d.path is not None and data:
        load_split(d, settings.seed)
    elif d.source in PACKAGES:
        package_file(d.source, d.file if d.source == "keel" else MNIST_FILE)
