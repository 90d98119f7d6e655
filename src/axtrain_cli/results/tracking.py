"""Optional experiment tracking: `logger=mlflow` or `logger=tensorboard` (default none).

After a run has written its files, the tracker records
- the resolved config, flattened (`train.lr`, `knobs.K1.multiplier.k`, ...): MLflow
  parameters; TensorBoard text `config` (the YAML);
- the per-epoch history (`history.csv`): metrics `train/<column>`, step = the row number
  (phases such as act then the pas fine-tunes follow each other);
- the sweep, per knob (of the network the run reports for it, `train_knob` in results.csv):
  `sweep/<knob>/accuracy` and `sweep/<knob>/loss` (means over a stochastic memory's draws),
  `.../accuracy_std` and `.../loss_std` where there are draws, `.../compute_power` and
  `.../storage_power`;
- MLflow only: the run's files as artifacts, and tags dataset, method, seed, out_dir, sweep.

Where: MLflow at `tracking.uri`, or by default a SQLite store `mlflow.db` with artifacts in
`mlartifacts/` beside the outputs (the sweep dir of a multirun, else the run dir's parent);
one MLflow run per job, in the experiment `tracking.experiment` (default `axtrain`, or
`axtrain <sweep dir>` for a multirun: a sweep's jobs side by side). TensorBoard event
files go to `<beside the outputs>/tensorboard/<run dir name>`.

Neither library is imported unless asked for. Before any work, a logger whose library is
missing, a `tracking.uri` whose scheme MLflow does not serve, or a SQLite database that
cannot be made is a one-line error (the `tracking` extra installs both libraries). Jobs of
a parallel sweep take turns on a SQLite store (a file lock beside it); a tracking server
that does not answer fails after one retry.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import math
import os
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from ..errors import ConfigError
from ..settings import choice, to_dict, to_yaml

log = logging.getLogger("axtrain")

LOGGERS = ("none", "mlflow", "tensorboard")
_MODULES = {"mlflow": "mlflow", "tensorboard": "tensorboard"}
URI_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "databricks")


def check(cfg) -> None:
    """logger is known and its library installed; an MLflow tracking.uri has a scheme MLflow
    serves and, for SQLite, a database file that can be made. All before any work."""
    choice(cfg, "logger", LOGGERS)
    module = _MODULES.get(cfg.logger)
    if module and importlib.util.find_spec(module) is None:
        raise ConfigError(f"logger={cfg.logger}: {module} is not installed: allowed none, or "
                          f"install it (pip install 'axtrain[tracking]')")
    uri = cfg.tracking.uri
    if cfg.logger != "mlflow" or uri is None:
        return
    scheme = urlparse(str(uri)).scheme.split("+")[0]
    if scheme not in URI_SCHEMES:
        raise ConfigError(f"tracking.uri={uri!r} is out of range: allowed an MLflow tracking "
                          f"URI ({', '.join(s + '://...' for s in URI_SCHEMES)}) or null")
    if scheme == "sqlite":
        db = sqlite_path(str(uri))
        folder = next((p for p in [db.parent, *db.parent.parents] if p.exists()), None)
        if db.is_dir() or folder is None or not folder.is_dir() or \
                not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"tracking.uri={uri!r}: cannot make the database {db}: allowed "
                              "a sqlite:////path/to/file.db in a folder you can write")


def sqlite_path(uri: str) -> Path:
    """The database file of a sqlite:/// URI."""
    return Path(uri.split(":///", 1)[1] if ":///" in uri else uri)


def base_dir(out_dir: Path, sweep_dir: str | None) -> Path:
    """Where the stores go: beside the outputs."""
    return Path(sweep_dir) if sweep_dir else Path(out_dir).resolve().parent


def flat_config(cfg) -> dict[str, str]:
    """The resolved config as dotted keys (the reproduction `profile` tables left out)."""
    out: dict[str, str] = {}

    def walk(node, prefix):
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = str(node)

    container = to_dict(cfg)
    container.pop("profile", None)
    walk(container, "")
    return out


def history_metrics(history: pd.DataFrame | None) -> list[tuple[str, float, int]]:
    """(name, value, step) for every numeric history cell."""
    if history is None or history.empty:
        return []
    out = []
    for step, (_, row) in enumerate(history.iterrows(), start=1):
        for col, value in row.items():
            if col in ("epoch", "phase") or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                out.append((f"train/{col}", float(value), step))
    return out


def sweep_metrics(results: pd.DataFrame) -> dict[str, float]:
    """Per knob: means and stds over a stochastic memory's draws, power."""
    out: dict[str, float] = {}
    for knob, g in results.groupby("knob", sort=False):
        key = f"sweep/{knob}"
        out[f"{key}/accuracy"] = float(g["accuracy"].mean())
        out[f"{key}/loss"] = float(g["loss"].mean())
        if len(g) > 1:
            out[f"{key}/accuracy_std"] = float(g["accuracy"].std())
            out[f"{key}/loss_std"] = float(g["loss"].std())
        out[f"{key}/compute_power"] = float(g["compute_power"].iloc[0])
        out[f"{key}/storage_power"] = float(g["storage_power"].iloc[0])
    return out


def log_run(cfg, out_dir: Path, results: pd.DataFrame, history: pd.DataFrame | None,
            sweep_dir: str | None = None) -> None:
    """Record a finished run with the configured tracker (nothing for logger=none). A
    tracker failure is logged as an error; the run's files are written already."""
    if cfg.logger == "none":
        return
    try:
        if cfg.logger == "mlflow":
            where = _mlflow(cfg, Path(out_dir), results, history, sweep_dir)
        else:
            where = _tensorboard(cfg, Path(out_dir), results, history, sweep_dir)
        log.info("logged the run to %s (%s)", cfg.logger, where)
    except Exception as e:  # the results are on disk; say what the tracker did not get
        log.error("logger=%s failed (%s: %s); the run's files in %s are complete", cfg.logger,
                  type(e).__name__, e, out_dir)


def mlflow_uri(cfg, out_dir: Path, sweep_dir: str | None) -> str:
    if cfg.tracking.uri:
        return str(cfg.tracking.uri)
    return f"sqlite:///{base_dir(out_dir, sweep_dir) / 'mlflow.db'}"


@contextlib.contextmanager
def _store_lock(uri: str):
    """For a SQLite store: one job at a time (parallel jobs of a sweep would otherwise race
    to create its tables). Other stores are servers and take care of it."""
    if not uri.startswith("sqlite:"):
        yield
        return
    db = sqlite_path(uri)
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _mlflow(cfg, out_dir, results, history, sweep_dir) -> str:
    uri = mlflow_uri(cfg, out_dir, sweep_dir)
    # a server that does not answer: fail in seconds, not after minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    with _store_lock(uri):
        return _mlflow_log(cfg, uri, out_dir, results, history, sweep_dir)


def _mlflow_log(cfg, uri, out_dir, results, history, sweep_dir) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    name = cfg.tracking.experiment or ("axtrain" if not sweep_dir else f"axtrain {sweep_dir}")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:  # a SQLite store keeps the files beside it, never in the cwd
        artifacts = (sqlite_path(uri).parent / "mlartifacts").resolve().as_uri() \
            if uri.startswith("sqlite:") else None
        experiment_id = client.create_experiment(name, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    tags = {"dataset": cfg.dataset.name, "method": cfg.method.name, "seed": str(cfg.seed),
            "out_dir": str(Path(out_dir).resolve()), "sweep": sweep_dir or ""}
    run = client.create_run(experiment_id, run_name=Path(out_dir).name, tags=tags)
    rid = run.info.run_id
    try:
        params = list(flat_config(cfg).items())
        for i in range(0, len(params), 100):  # MLflow takes at most 100 per batch
            client.log_batch(rid, params=[mlflow.entities.Param(k, v[:6000])
                                          for k, v in params[i:i + 100]])
        metrics = [mlflow.entities.Metric(k, v, 0, s) for k, v, s in history_metrics(history)]
        metrics += [mlflow.entities.Metric(k, v, 0, 0)
                    for k, v in sweep_metrics(results).items()]
        for i in range(0, len(metrics), 1000):
            client.log_batch(rid, metrics=metrics[i:i + 1000])
        for f in sorted(Path(out_dir).iterdir()):
            if f.is_file():
                client.log_artifact(rid, str(f))
        client.set_terminated(rid, "FINISHED")
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    return f"{uri}, experiment {name!r}, run {rid}"


def tensorboard_dir(out_dir: Path, sweep_dir: str | None) -> Path:
    return base_dir(out_dir, sweep_dir) / "tensorboard" / Path(out_dir).name


def _tensorboard(cfg, out_dir, results, history, sweep_dir) -> str:
    from torch.utils.tensorboard import SummaryWriter

    where = tensorboard_dir(out_dir, sweep_dir)
    with SummaryWriter(log_dir=str(where)) as w:
        w.add_text("config", "```\n" + to_yaml(cfg) + "\n```")
        for k, v, step in history_metrics(history):
            w.add_scalar(k, v, step)
        for k, v in sweep_metrics(results).items():
            w.add_scalar(k, v, 0)
    return str(where)
