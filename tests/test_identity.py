"""Results that cannot mislead: every row says what really ran (the network built, the
epochs trained, a checkpoint's own facts), and the report averages over seeds only what
measured the same thing."""

import subprocess
import sys

import pandas as pd
import torch
from conftest import AXTRAIN, TINY, run_cli

from axtrain_cli.results import commit_run, csv_bytes

REPORT = [sys.executable, "-m", "axtrain_cli.cli", "report"]


def report(*dirs, out):
    return subprocess.run([*REPORT, *map(str, dirs), "--out", str(out), "--no-plots"],
                          capture_output=True, text=True)


def test_a_sweep_over_a_knobs_definition_gives_separate_cells_and_no_figure(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", *TINY, "method=bp,act", "knobs.K1.multiplier.k=2,6",
                 "eval.knobs=[exact,K1]", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.read_csv(sweep / "sweep_results.csv")
    assert set(rows.loc[rows.knob == "K1", "multiplier_k"]) == {2, 6}  # a column per parameter
    r = report(sweep, out=tmp_path / "report")
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(tmp_path / "report" / "runs_summary.csv")
    for method in ("bp", "act"):
        k1 = s[(s.method == method) & (s.knob == "K1")]
        assert sorted(k1.multiplier) == ["drum(k=2)", "drum(k=6)"], k1  # two cells, one each
        assert (k1.n_seeds == 1).all()
    for name in ("fig6_multiplier_error.csv", "fig9_power.csv", "claims.csv"):
        assert not (tmp_path / "report" / name).exists(), name
    refused = [ln for ln in r.stderr.splitlines() if "figure tables" in ln]
    assert len(refused) == 1 and "drum(k=2) | drum(k=6)" in refused[0]


def test_the_same_sweep_in_one_setting_builds_the_figures(tmp_path):
    """The refusal above is about the mixing: one setting per report builds the figures."""
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", *TINY, "method=bp,act", "knobs.K1.multiplier.k=2",
                 "eval.knobs=[exact,K1]", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert report(sweep, out=tmp_path / "report").returncode == 0
    fig6 = pd.read_csv(tmp_path / "report" / "fig6_multiplier_error.csv")
    assert set(fig6.multiplier.dropna()) == {"drum(k=2)"}


def test_rows_name_the_network_built_and_the_epochs_trained(tmp_path):
    out = tmp_path / "r"
    r = run_cli([*TINY, "train.epochs=3", "topology.hidden=[16,8]", f"hydra.run.dir={out}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(out / "results.csv")
    assert set(rows.topology) == {"30-16-8-2"} and set(rows.epochs) == {3}
    assert rows.arch.nunique() == 1 and rows.setting.nunique() == 1
    ck = torch.load(out / "model.pt", weights_only=True)
    assert (ck["topology_label"], ck["epochs"], ck["method"]) == ("30-16-8-2", 3, "bp")
    assert "network 30-16-8-2" in (out / "cli.log").read_text()


def test_a_checkpoint_brings_its_own_facts(tmp_path):
    """A 3-epoch bp network evaluated: the rows say bp, 3 epochs, its topology and file;
    the log says nothing was trained; another method cannot claim it."""
    first = tmp_path / "first"
    assert run_cli([*TINY, "train.epochs=3", "topology.hidden=[16,8]",
                    f"hydra.run.dir={first}"], cwd=tmp_path).returncode == 0
    model = first / "model.pt"
    ev = tmp_path / "eval"
    r = subprocess.run([*AXTRAIN[:-1], "eval", str(model), "eval.knobs=[exact,K2]",
                        "eval.trials=2", "progress=off", f"hydra.run.dir={ev}"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(ev / "results.csv")
    assert set(rows.method) == {"bp"} and set(rows.epochs) == {3}
    assert set(rows.topology) == {"30-16-8-2"} and set(rows.checkpoint) == {str(model)}
    assert list(rows.knob) == ["exact", "K2"]
    before = pd.read_csv(first / "results.csv").set_index("knob")
    assert rows.set_index("knob").loc["exact", "loss"] == before.loc["exact", "loss"]
    log = (ev / "cli.log").read_text()
    assert "evaluated as it is (3 epochs)" in log and "bp trained in" not in log
    # another method's label on a bp network: refused with one line, before any work
    r = run_cli([*TINY, "method=act", f"method.checkpoint={model}", "topology.hidden=[16,8]",
                 f"hydra.run.dir={tmp_path / 'act'}"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "trained by method=bp" in r.stderr and "axtrain eval" in r.stderr
    # a command line that contradicts the checkpoint's topology: one line naming both
    r = run_cli([*TINY, f"method.checkpoint={model}", f"hydra.run.dir={tmp_path / 'x'}"],
                cwd=tmp_path)
    assert r.returncode == 2 and "30-16-8-2" in r.stderr and "30-64-64-2" in r.stderr


def test_results_of_the_previous_schema_are_upgraded(tmp_path):
    """A schema-2 results.csv (without the identity columns) still reads: its words and
    settings come from the run's config.yaml."""
    out = tmp_path / "new"
    assert run_cli([*TINY, "method=bp", f"hydra.run.dir={out}"], cwd=tmp_path).returncode == 0
    new = pd.read_csv(out / "results.csv")
    old = new.drop(columns=["arch", "bits", "weight_format", "train_multiplier",
                            "train_memory", "checkpoint", "setting", "multiplier_k",
                            "memory_voltage_mv", "memory_rate"]).assign(schema_version=2)
    v2 = tmp_path / "old" / "run"
    commit_run(v2, {"results.csv": csv_bytes(old),
                    "config.yaml": (out / "config.yaml").read_bytes()})
    r = report(tmp_path / "old", out=tmp_path / "report")
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(tmp_path / "report" / "runs_summary.csv")
    assert set(s.knob) == set(new.knob) and (s.n_seeds == 1).all()
    from axtrain_cli.report.load import load_runs

    df = load_runs([tmp_path / "old"], print)
    assert set(df.bits) == {16} and set(df.weight_format) == {"fraction"}
    assert set(df.setting) == set(new.setting)  # the same settings hash as the new run's
