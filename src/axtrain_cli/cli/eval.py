"""`axtrain eval MODEL.pt [overrides]`: a bp or act run's network on the knobs, as
`axtrain train` overrides read from its checkpoint."""

from __future__ import annotations

from pathlib import Path

from .compose import compose, config_dir
from .messages import fail


def eval_overrides(args: list[str]) -> list[str]:
    """`axtrain eval MODEL.pt [overrides]` as `axtrain train` overrides: the checkpoint's
    method (bp or act, evaluated as they are), dataset, topology, seed and words, then the
    user's overrides (which may change anything but the network)."""
    if not args or args[0].startswith("-") or ("=" in args[0]
                                               and not Path(args[0]).expanduser().is_file()):
        fail("usage: axtrain eval MODEL.pt [key=value ...] (a model.pt a bp or act run wrote)")
    path, rest = Path(args[0]).expanduser(), args[1:]
    if not path.is_file():
        fail(f"{args[0]}: not found: allowed a model.pt an earlier run wrote")
    from ..methods.base import checkpoint_facts

    try:
        ck = checkpoint_facts(path)
    except Exception as e:
        fail(f"{args[0]} is not an axtrain checkpoint ({type(e).__name__}): allowed a model.pt "
             "an earlier run wrote")
    if ck["method"] not in ("bp", "act"):
        fail(f"{args[0]} holds a network trained by method={ck['method'] or '(not recorded)'}: "
             "axtrain eval evaluates bp and act networks (method=pas, axtrain and the baselines "
             "start from a checkpoint with method.checkpoint=...)")
    options = sorted(p.stem for p in (Path(config_dir()) / "dataset").glob("*.yaml"))
    path_of = [f"dataset.path='{ck['dataset_path']}'"] if ck["dataset_path"] else []
    if ck["dataset"] in options:
        data = [f"dataset={ck['dataset']}", *path_of]
    elif ck["dataset_path"]:  # a file of the user's: a table or an .npz of images
        kind = "images" if str(ck["dataset_path"]).endswith(".npz") else "csv"
        data = [f"dataset={kind}", *path_of, f"dataset.name={ck['dataset']}"]
    else:
        fail(f"{args[0]}: its dataset {ck['dataset']!r} is not one of {', '.join(options)} "
             "and the checkpoint names no data file")
    topo = ck["topology"] or {}
    base = compose(data).topology  # the dataset's own network: its keys give way to these
    network = [f"~topology.{k}" for k in base if k not in topo]
    network += [f"{'' if k in base else '+'}topology.{k}={_value(v)}" for k, v in topo.items()]
    words = [f"hardware.{k}={ck[k]}" for k in ("bits", "weight_format") if ck[k] is not None]
    return [*data, *network, f"method={ck['method']}", f"method.checkpoint='{path.resolve()}'",
            f"seed={ck['seed']}", *words, *rest]


def _value(v) -> str:
    """A config value as a Hydra override value (lists as [a,b], strings quoted)."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return f"'{v}'" if isinstance(v, str) else str(v)
