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
    """A config value as a Hydra override value: lists as [a,b], mappings as {k:v} (a nested
    `_target_`'s config, say), strings quoted, None as null."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "null"
    if isinstance(v, str):
        return f'"{v}"' if "'" in v else f"'{v}'"
    return str(v)


def run_arguments(argv: list[str], keys: set[str], doc: str, verb: str):
    """`axtrain explore` and `axtrain resilience`'s arguments: run=DIR (a bp or act run's
    dir or its model.pt), the command's own key=value options (`keys`), and Hydra overrides
    of the run's config. Returns (model.pt, {option: text}, overrides), or None when help was
    asked for (printed from `doc`); one line, exit 2, for anything else."""
    run, pairs, overrides = None, {}, []
    for a in argv:
        if a in ("-h", "--help"):
            print(doc.split("\n\n", 1)[1], end="")
            return None
        key, sep, value = a.partition("=")
        if not sep or a.startswith("-"):
            fail(f"{a!r} is not an option: allowed run=DIR, key=value options "
                 f"({', '.join(sorted(keys))}) and Hydra overrides")
        if key == "run":
            run = value
        elif key in keys:
            pairs[key] = value
        else:
            overrides.append(a)
    if run is None:
        fail("run= is missing: allowed a bp or act run's dir or its model.pt")
    file = Path(run).expanduser()
    file = file / "model.pt" if file.is_dir() else file
    if not file.is_file():
        fail(f"run={run!r}: no model.pt there: allowed a bp or act run's dir or its model.pt "
             f"(a network without a checkpoint cannot be {verb})")
    return file, pairs, overrides


def run_settings(file: Path, overrides: list[str]):
    """The settings of the run whose checkpoint is `file`, with `overrides`, checked like a
    job's (ConfigError, or one line for an unknown key or option)."""
    from ..pipeline.checks import validate
    from .compose import to_settings
    from .messages import compose_error

    run_overrides = eval_overrides([str(file), *overrides])
    try:
        cfg = to_settings(compose(run_overrides), run_overrides)
    except Exception as e:  # ConfigError passes through; Hydra's errors as one line
        from ..errors import ConfigError

        if isinstance(e, ConfigError):
            raise
        fail(compose_error(e, overrides))
    validate(cfg)
    return cfg


def start_analysis(cfg) -> None:
    """What a command on a finished run does before its work: log lines as `axtrain train`
    writes them, and the run's threads (`threads`)."""
    import logging

    import torch

    from ..pipeline.threads import choose_threads

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - "
                        "%(message)s")
    torch.set_num_threads(choose_threads(cfg.threads)[0])
