"""The Python API: a run from a script or a notebook, without Hydra.

    import axtrain_cli as ax

    s = ax.settings_for("ionosphere", "act", train={"epochs": 20})
    split = ax.load_data(s)
    trained = ax.train(ax.build_network(s), split, s)
    swept = ax.sweep(trained, split, s)
    ax.write_run("runs/ionosphere_act", s, trained, swept)
    ax.write_report(["runs"], "runs/report")

`settings_for` reads the shipped application (conf/dataset/NAME.yaml), its Table 1 network
(conf/topology/), the knob set and the word format as `axtrain train dataset=NAME
method=METHOD` composes them, so the rows are the ones that command writes for the same
settings (`run` does every stage at once, as it does). Every stage takes the typed
`Settings`; change them as dataclasses (`s.train.lr = 0.01`) or with keyword arguments.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import ConfigError
from .settings import (
    DatasetConf,
    ModelSpec,
    Settings,
    check_settings,
    did_you_mean,
    from_dict,
    to_dict,
)

__all__ = ["build_network", "load_data", "run", "settings_for", "sweep", "train",
           "write_report", "write_run"]


def _shipped(group: str, name: str) -> dict:
    """A shipped config (conf/GROUP/NAME.yaml) as plain values: the options of its own group
    that its defaults list names merged in first (a knob set that extends `paper`), the
    schemas it names left out."""
    path = files("axtrain_cli.conf") / group / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.name[:-5] for p in (files("axtrain_cli.conf") / group).iterdir()
                         if p.name.endswith(".yaml"))
        raise ConfigError(f"{group}={name!r} is unknown: allowed one of {', '.join(options)}"
                          f"{did_you_mean(name, options)}")
    values = yaml.safe_load(path.read_text()) or {}
    merged, own = {}, False
    for entry in values.pop("defaults", None) or []:
        if entry == "_self_":
            merged, own = _merge(merged, values), True
        elif isinstance(entry, str) and not entry.startswith("/") and "@" not in entry:
            merged = _merge(merged, _shipped(group, entry))
    return merged if own else _merge(merged, values)


def _resolve(node, dataset: dict):
    """The shipped configs' interpolations: ${dataset.KEY}, and ${oc.select:KEY,DEFAULT}
    (a reproduction profile's value, or the default: no profile here)."""
    if isinstance(node, dict):
        return {k: _resolve(v, dataset) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, dataset) for v in node]
    if isinstance(node, str) and node.startswith("${"):
        m = re.fullmatch(r"\$\{dataset\.(\w+)\}", node)
        if m:
            return dataset[m.group(1)]
        m = re.fullmatch(r"\$\{oc\.select:[^,]+,(.*)\}", node)
        if m:
            return yaml.safe_load(m.group(1))
        raise ConfigError(f"{node!r}: an interpolation the Python API does not resolve")
    return node


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _model_spec(model: Callable) -> ModelSpec:
    """A network class or factory function of yours as `topology` (input_shape and
    n_classes given where it takes them)."""
    from .networks import with_shape

    target = f"{model.__module__}.{model.__qualname__}"
    return ModelSpec({"_target_": target},
                     lambda shape, n: with_shape(model, target, {}, shape, n,
                                                 lambda kwargs: model(**kwargs)))


def settings_for(dataset: str | dict = "breast_cancer", method: str | dict = "bp", *,
             topology: str | dict | Callable | None = None, knobs: str | dict = "paper",
             hardware: str = "fixed16", **changes: Any) -> Settings:
    """The settings `axtrain train dataset=DATASET method=METHOD` composes: the application
    and its Table 1 network (or `topology`: a shipped one's name, a config mapping of a
    paper topology or of a `_target_` in axtrain's zoo, or a network class or factory of
    yours: the library builds no other `_target_`, the command line does), the knob set by
    name (or a mapping of knobs added to the paper's: {"m": {"multiplier": {"name":
    "mitchell"}}}), the word format by name, then
    `changes` (top-level keys; mappings change the keys they name, e.g. train={"epochs":
    20}; `dataset` and `method` may be mappings with their name and the settings they change,
    e.g. {"name": "mnist_cnn", "max_train": 2000}). Checked like the command line's
    (ConfigError, one line)."""
    method = {"name": method} if isinstance(method, str) else dict(method)
    given = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
    dataset = given.pop("name", "breast_cancer")
    data = _merge(_shipped("dataset", dataset), given)
    defaults = to_dict(DatasetConf(**data))  # what the interpolations read
    values: dict = {
        "dataset": data,
        "topology": (topology if isinstance(topology, dict) else
                     _shipped("topology", topology or dataset)
                     if not callable(topology) else {}),
        "method": _merge(_shipped("method", method.get("name", "bp")), method),
        "knobs": (_shipped("knobs", knobs) if isinstance(knobs, str)
                  else {**_shipped("knobs", "paper"), **knobs}),
        "hardware": _shipped("hardware", hardware),
        "train": {"epochs": data["epochs"], "batch_size": data["batch_size"]}}
    values = _merge(_resolve(values, defaults), changes)
    from .networks import zoo_factory

    s = from_dict(values, model_factory=zoo_factory)
    if callable(topology):
        s.topology = _model_spec(topology)
    check_settings(s)
    return s


def load_data(s: Settings):
    """The application's seeded split (data.Split), on the settings' device."""
    from .pipeline import load_data as load

    return load(s)


def build_network(s: Settings):
    """The settings' network (networks.Network), its initial weights drawn from the seed."""
    from .pipeline import build_network as build

    return build(s)


def train(net, split, s: Settings):
    """`net` trained by the settings' method (methods.base.Trained), with the threads the
    command line would use (`threads`)."""
    import torch

    from .pipeline import choose_threads
    from .pipeline import train as fit

    torch.set_num_threads(choose_threads(s.threads)[0])
    return fit(net, split, s)


def sweep(trained, split, s: Settings):
    """The trained network on every knob of `eval.knobs` (pipeline.stages.Swept: its result
    rows, `frame` as results.csv holds them, and the last-layer sensitivity map)."""
    from .pipeline import evaluate

    return evaluate(trained, split, s)


def write_run(out_dir: str | Path, s: Settings, trained, swept):
    """The run's files in out_dir, as `axtrain train` writes them (one set: results.csv,
    history.csv, model.pt, config.yaml, the sensitivity map, manifest.json); returns
    results.csv's rows (a DataFrame)."""
    from .pipeline import write

    return write(out_dir, s, trained, swept)


def run(s: Settings, out_dir: str | Path):
    """Every stage at once, as `axtrain train` runs a job (its checks, log lines and
    progress included); returns results.csv's rows (a DataFrame)."""
    from .pipeline import run as whole

    return whole(s, out_dir)


def write_report(inputs: list, out_dir: str | Path, **options) -> dict:
    """The paper's figure tables, claims and plots of the runs under `inputs`
    (report.build_report; `options`: its plots, max_loss, relaxed_loss, power_model)."""
    from .report import build_report

    return build_report([Path(p) for p in inputs], Path(out_dir), **options)
