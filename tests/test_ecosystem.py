"""The cluster path (hydra-submitit-launcher's submitit_local: SLURM's code path with local
processes) and the trackers (MLflow, TensorBoard), read back with the libraries' own
readers and compared with the run's CSV files."""

from __future__ import annotations

import importlib.util
import logging

import pandas as pd
import pytest
from conftest import AXTRAIN, TINY, run_cli

from axtrain_cli.errors import ConfigError
from axtrain_cli.pipeline import run
from axtrain_cli.results import tracking

REPORT = [AXTRAIN[0], "-m", "axtrain_cli.cli", "report"]


def test_a_submitit_multirun_runs_its_jobs_and_the_report_reads_them(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "hydra/launcher=submitit_local", *TINY, "method=bp,act",
                 "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if (p / "results.csv").is_file())
    # job dirs name their overrides (progress is left out)
    assert jobs == ["0_dataset=breast_cancer,eval.trials=3,method=bp,train.epochs=2",
                    "1_dataset=breast_cancer,eval.trials=3,method=act,train.epochs=2"]
    table = pd.read_csv(sweep / "sweep_results.csv")  # every job's rows in one table
    assert sorted(set(table.job)) == jobs and set(table.method) == {"bp", "act"}
    assert (sweep / ".submitit").is_dir()  # submitit ran them, not the basic launcher
    import subprocess

    rep = subprocess.run([*REPORT, str(sweep), "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-3000:]
    runs = pd.read_csv(tmp_path / "report" / "runs_summary.csv")
    assert sorted(set(runs["method"])) == ["act", "bp"]
    fig6 = pd.read_csv(tmp_path / "report" / "fig6_multiplier_error.csv")
    assert len(fig6) > 0


def _results_and_history(out):
    return pd.read_csv(out / "results.csv"), pd.read_csv(out / "history.csv")


def test_mlflow_holds_the_config_history_sweep_and_files(tmp_path, compose_cfg):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "runs" / "one"
    run(compose_cfg([*TINY, "logger=mlflow"]), out)
    results, history = _results_and_history(out)
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("axtrain")
    (found,) = client.search_runs([exp.experiment_id])
    assert found.info.run_name == "one" and found.info.status == "FINISHED"
    p = found.data.params
    assert p["dataset.name"] == "breast_cancer" and float(p["train.lr"]) == 0.001
    assert p["knobs.K1.multiplier.k"] == "2" and p["eval.trials"] == "3"
    losses = [m.value for m in client.get_metric_history(found.info.run_id, "train/loss")]
    assert losses == pytest.approx(list(history["loss"]))
    for knob, g in results.groupby("knob"):
        assert found.data.metrics[f"sweep/{knob}/accuracy"] == pytest.approx(g["accuracy"].mean())
    ntv = results[results["knob"] == "aggressive"]
    assert len(ntv) == 3
    assert found.data.metrics["sweep/aggressive/loss_std"] == pytest.approx(ntv["loss"].std())
    files = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"results.csv", "history.csv", "config.yaml", "model.pt"} <= files
    assert (tmp_path / "runs" / "mlartifacts").is_dir()  # beside the outputs, not in the cwd


def test_a_multirun_logs_one_mlflow_run_per_job_grouped_by_sweep(tmp_path):
    from mlflow.tracking import MlflowClient

    sweep = tmp_path / "sweep"  # two jobs at once: they take turns on the SQLite store
    r = run_cli(["-m", *TINY, "seed=0,1", "logger=mlflow", "hydra/launcher=local_parallel",
                 "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{sweep / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"axtrain {sweep.resolve()}")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(x.info.run_name for x in runs) == [
        "0_dataset=breast_cancer,eval.trials=3,seed=0,train.epochs=2",
        "1_dataset=breast_cancer,eval.trials=3,seed=1,train.epochs=2"]
    for x in runs:
        results = pd.read_csv(sweep / x.info.run_name / "results.csv")
        exact = results[results["knob"] == "exact"]["accuracy"].iloc[0]
        assert x.data.metrics["sweep/exact/accuracy"] == pytest.approx(exact)


def test_tensorboard_holds_the_history_and_the_sweep(tmp_path, compose_cfg):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "runs" / "tb"
    run(compose_cfg([*TINY, "logger=tensorboard"]), out)
    results, history = _results_and_history(out)
    acc = EventAccumulator(str(tmp_path / "runs" / "tensorboard" / "tb"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx(list(history["loss"]))
    for knob, g in results.groupby("knob"):
        (e,) = acc.Scalars(f"sweep/{knob}/accuracy")
        assert e.value == pytest.approx(g["accuracy"].mean())
    assert "config/text_summary" in acc.Tags()["tensors"]
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: breast_cancer" in text and "trials: 3" in text


def test_a_custom_sqlite_store_keeps_its_files_beside_it(tmp_path, compose_cfg, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'store' / 'm.db'}"
    run(compose_cfg([*TINY, "logger=mlflow", f"tracking.uri={uri}",
                     "tracking.experiment=mine"]), tmp_path / "runs" / "a")
    (found,) = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("mine").experiment_id])
    assert (tmp_path / "store" / "mlartifacts").is_dir() and not (tmp_path / "mlruns").exists()
    assert found.info.status == "FINISHED"


@pytest.mark.parametrize("uri,words", [("bogus://x", "allowed an MLflow tracking URI"),
                                       ("sqlite:///{tmp}/a_file/x.db", "cannot make the database")])
def test_a_bad_tracking_uri_is_one_line_before_work(tmp_path, uri, words):
    (tmp_path / "a_file").write_text("")  # a database under a file cannot be made
    uri = uri.format(tmp=tmp_path)
    r = run_cli([*TINY, "logger=mlflow", f"tracking.uri={uri}",
                 f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert words in r.stderr and not (tmp_path / "r" / "results.csv").exists()


def test_a_missing_tracker_is_one_line_before_work(compose_cfg, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"logger=mlflow: mlflow is not installed"):
        tracking.check(compose_cfg([*TINY, "logger=mlflow"]))


def test_a_failing_tracker_keeps_the_run(tmp_path, compose_cfg, caplog):
    bad = "http://127.0.0.1:9"  # a tracking server that is not there (the discard port)
    out = tmp_path / "run"
    with caplog.at_level(logging.ERROR, logger="axtrain"):
        run(compose_cfg([*TINY, "logger=mlflow", f"tracking.uri={bad}"]), out)
    assert (out / "results.csv").is_file()
    assert any("logger=mlflow failed" in r.message for r in caplog.records)
