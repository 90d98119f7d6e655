"""CI regression of the paper's claims on the README's `axtrain reproduce profile=quick`
and `axtrain report` commands, and reproduce's other end-to-end runs (the `regression`
stage: `make test-regression`).

Asserts only what we measured to hold for our hardware models (see docs/reproduction.md);
claims that do not reproduce are recorded in claims.csv and the docs, not asserted."""


import pandas as pd
import pytest
from conftest import ROOT, readme_commands, run_axtrain

from axtrain_cli.paper import DATASETS

TABLES = ["fig4_sensitivity.csv", "fig6_multiplier_error.csv", "fig7_ntv_accuracy.csv",
          "fig8_approxann_multipliers.csv", "fig9_power.csv", "claims.csv"]


def axtrain(*args, timeout=1500):
    return run_axtrain(args, ROOT, timeout=timeout)


def reproduce(out, *args, timeout=1500):
    return axtrain("reproduce", f"out={out}", *args, timeout=timeout)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The README's reproduction into a temporary dir, then the README's report on it (the
    reproduction's own report moved aside to compare)."""
    (_, *args), (_, default_out) = [c for c in readme_commands()
                                    if c[0] in ("reproduce", "report")]
    assert "profile=quick" in args and default_out == "reproduce/quick"
    out = tmp_path_factory.mktemp("quick")
    r = reproduce(out, *args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (out / "report").rename(out / "report_of_reproduce")
    r = axtrain("report", str(out))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs = pd.concat([pd.read_csv(f) for f in out.rglob("results.csv")], ignore_index=True)
    return out, runs


@pytest.mark.regression
def test_every_table_is_written(quick):
    out, _ = quick
    for name in TABLES:
        assert (out / "report" / name).is_file(), name
        first = out / "report_of_reproduce" / name  # reproduce wrote the same tables
        assert pd.read_csv(first).equals(pd.read_csv(out / "report" / name)), name
    claims = pd.read_csv(out / "report" / "claims.csv")
    assert len(claims) == 25 and claims.paper_value.notna().all()


@pytest.mark.regression
def test_grid_is_complete(quick):
    _, runs = quick
    for method in ("bp", "act", "axtrain", "pas", "approxann"):
        assert set(runs[runs.method == method].dataset) == set(DATASETS), method


# The five MLP applications. On LeNet-5 the quick schedule's act run does NOT lower S and
# loses accuracy (measured; see docs/reproduction.md), so it is not asserted.
MLPS = DATASETS[:5]


def _exact(runs, value):
    exact = runs[(runs.knob == "exact") & runs.method.isin(["bp", "act"])]
    return exact.pivot_table(index="dataset", columns="method", values=value).loc[MLPS]


@pytest.mark.regression
def test_act_lowers_sensitivity_on_the_mlps(quick):
    s = _exact(quick[1], "sensitivity")
    assert (s["act"] < 0.9 * s["bp"]).all(), s


@pytest.mark.regression
def test_act_keeps_exact_accuracy_close_to_bp_on_the_mlps(quick):
    """Within 3 points, as in test_methods (ionosphere's 71 test samples: 1.4 points each;
    measured: act 1 sample below BP there, within 0.5 points elsewhere)."""
    a = _exact(quick[1], "accuracy")
    assert (a["act"] > a["bp"] - 0.03).all(), a


@pytest.mark.regression
def test_approxann_approximates_every_multiplier_at_k1_k2(quick):
    """What we measured instead of Fig. 8's gain (the paper: +25.51 % / +23.33 % more
    approximate multipliers from an act init): even K1/K2 = DRUM k = 2 and 3 cost so
    little accuracy after ApproxANN's retraining that it approximates every neuron from
    both inits within 2 accuracy points (docs/reproduction.md), so the table shows no
    difference under that reading. A harsher K1/K2 would make this fail."""
    out, _ = quick
    f8 = pd.read_csv(out / "report" / "fig8_approxann_multipliers.csv")
    f8 = f8[f8.dataset != "average"]
    assert len(f8) == 12
    for init in ("bp", "act"):
        assert (f8[f"approx_multipliers_{init}"] == f8.total_multipliers).all(), f8


@pytest.mark.regression
def test_approxann_stays_within_its_constraint(quick):
    _, runs = quick
    rows = runs[runs.knob.str.startswith("approxann_")]
    assert len(rows) == 24
    assert ((rows.base_accuracy - rows.accuracy) * 100 <= 2.0 + 1e-9).all()


@pytest.mark.regression
def test_resume_skips_finished_jobs(tmp_path):
    args = ["profile=quick", "datasets=ionosphere", "arms=main"]
    assert reproduce(tmp_path, *args).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("results.csv")}
    r = reproduce(tmp_path, *args)
    assert r.returncode == 0 and "skipping" in r.stdout + r.stderr
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("results.csv")} == before


def test_bad_profile_is_one_line_exit_2(tmp_path):
    r = reproduce(tmp_path, "profile=huge")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "profile" in r.stderr


def test_arms_launch_the_longest_jobs_first(tmp_path):
    from axtrain_cli.cli import reproduce as rp

    o, extra = rp.parse(["datasets=ionosphere,mnist_cnn,breast_cancer,mnist_mlp",
                         f"out={tmp_path}"])
    cmd = rp.arm_command("main", o, extra)
    assert "dataset=mnist_cnn,mnist_mlp,ionosphere,breast_cancer" in cmd


def test_approxann_runs_one_multirun_per_reading(tmp_path):
    """approxann_constraints=accuracy,error runs ApproxANN under both readings of "2 %",
    each reading its own multirun: the accuracy jobs keep dir names without
    method.constraint, as a run with the default (accuracy) names them."""
    from axtrain_cli.cli import reproduce as rp

    o, extra = rp.parse(["profile=paper", f"out={tmp_path}",
                         "approxann_constraints=accuracy,error"])
    assert rp.multiruns(["main", "approxann"], o) == [
        ("main", "accuracy"), ("approxann", "accuracy"), ("approxann", "error")]
    assert not any("method.constraint" in a for a in rp.arm_command("approxann", o, extra))
    assert "method.constraint=error" in rp.arm_command("approxann", o, extra, "error")
    o, _ = rp.parse(["profile=paper", f"out={tmp_path}"])
    assert rp.multiruns(["approxann"], o) == [("approxann", "accuracy")]


@pytest.mark.regression
def test_extra_overrides_reach_every_arm(tmp_path):
    """An extra override renames the main arm's job dirs; the later arms still find their
    checkpoints there (threads= is left out of the names)."""
    from axtrain_cli.cli import reproduce as rp

    o, extra = rp.parse(["datasets=ionosphere", f"out={tmp_path}", "threads=1", "train.epochs=2"])
    path = rp.main_checkpoint(o, "act", extra)
    assert path.endswith("/dataset=${dataset.name},method=act,seed=${seed},train.epochs=2/"
                         "model.pt'")
    r = reproduce(tmp_path, "profile=quick", "datasets=ionosphere", "arms=main,axtrain",
                  "threads=1", "train.epochs=2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "main" / "dataset=ionosphere,method=act,seed=0,train.epochs=2"
            / "model.pt").is_file()
    assert list((tmp_path / "axtrain").glob("*train.epochs=2/results.csv"))


@pytest.mark.regression
def test_reproduce_networks_evaluates_an_earlier_reproductions_networks(tmp_path):
    """networks=DIR: the main arm evaluates DIR's bp and act networks on this run's knobs
    instead of training; a DIR that is no reproduction is one line, exit 2."""
    first, again = tmp_path / "first", tmp_path / "again"
    r = reproduce(first, "profile=quick", "datasets=ionosphere", "arms=main")
    assert r.returncode == 0, r.stderr[-2000:]
    r = reproduce(again, "profile=quick", "datasets=ionosphere", "arms=main",
                  f"networks={first}", "knobs=truncation")
    assert r.returncode == 0, r.stderr[-2000:]
    for method in ("bp", "act"):
        a = pd.read_csv(first / "main" / f"dataset=ionosphere,method={method},seed=0"
                        / "results.csv").set_index("knob")
        b = pd.read_csv(again / "main" / f"dataset=ionosphere,knobs=truncation,method={method},"
                        "seed=0" / "results.csv").set_index("knob")
        assert b.loc["exact", "loss"] == a.loc["exact", "loss"]
        assert b.loc["K1", "multiplier"] != a.loc["K1", "multiplier"]
    for bad in [f"networks={tmp_path / 'none'}", "networks=", f"networks={first}"]:
        args = ["arms=axtrain"] if bad.endswith(str(first)) else []
        r = reproduce(tmp_path / "x", "profile=quick", bad, *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "networks=" in r.stderr, bad
