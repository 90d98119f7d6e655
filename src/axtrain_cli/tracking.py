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

Neither library is imported unless asked for; a logger whose library is missing is a
one-line error before any work (the `tracking` extra installs both).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from .config import ConfigError, choice

log = logging.getLogger("axtrain")

LOGGERS = ("none", "mlflow", "tensorboard")
_MODULES = {"mlflow": "mlflow", "tensorboard": "tensorboard"}


def check(cfg) -> None:
    choice(cfg, "logger", LOGGERS)
    module = _MODULES.get(cfg.logger)
    if module and importlib.util.find_spec(module) is None:
        raise ConfigError(f"logger={cfg.logger}: {module} is not installed: allowed none, or "
                          f"install it (pip install 'axtrain[tracking]')")


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

    container = OmegaConf.to_container(cfg, resolve=True)
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


def _mlflow(cfg, out_dir, results, history, sweep_dir) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = mlflow_uri(cfg, out_dir, sweep_dir)
    name = cfg.tracking.experiment or ("axtrain" if not sweep_dir else f"axtrain {sweep_dir}")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        artifacts = None if cfg.tracking.uri else \
            (base_dir(out_dir, sweep_dir) / "mlartifacts").as_uri()
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
        w.add_text("config", "```\n" + OmegaConf.to_yaml(cfg, resolve=True) + "\n```")
        for k, v, step in history_metrics(history):
            w.add_scalar(k, v, step)
        for k, v in sweep_metrics(results).items():
            w.add_scalar(k, v, 0)
    return str(where)
