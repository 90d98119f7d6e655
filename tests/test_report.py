"""`axtrain report` on synthetic run directories (no training)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from axtrain_cli.cli.report import main
from axtrain_cli.report import SUMMARY_KEYS, build_report
from axtrain_cli.results import COLUMNS, commit_run, csv_bytes, write_csv

DATASETS = ["breast_cancer", "satimage"]
SEEDS = [0, 1]
K_POWER = {"K1": 0.3, "K2": 0.45, "K3": 0.6, "K4": 0.75}
LEVEL = {"aggressive": (660, 0.4), "conservative": (850, 0.7)}
# normalised error (loss at K / loss at exact) and accuracy at K, per method
FACTOR = {"bp": {"K1": 3.0, "K2": 2.0, "K3": 1.5, "K4": 1.1},
          "act": {"K1": 2.0, "K2": 1.5, "K3": 1.25, "K4": 1.05},
          "axtrain": {"K1": 1.5, "K2": 1.25, "K3": 1.1, "K4": 1.02}}
ACC = {"bp": {"K1": 0.80, "K2": 0.90, "K3": 0.94, "K4": 0.95},
       "act": {"K1": 0.90, "K2": 0.93, "K3": 0.94, "K4": 0.95},
       "axtrain": {"K1": 0.935, "K2": 0.94, "K3": 0.945, "K4": 0.95}}
DEV = {"bp": 0.2, "act": 0.1, "axtrain": 0.05}
NTV = {"bp": {"aggressive": [0.5, 0.6, 0.7], "conservative": [0.9, 0.9, 0.9]},
       "axtrain": {"aggressive": [0.8, 0.85, 0.9], "conservative": [0.935, 0.935, 0.935]}}


DOMAIN = {"exact": "exact", "drum": "compute", "ntv": "storage", "approxann": "compute"}


def row(dataset, method, seed, knob, *, kind, loss, acc, dev=0.0, train_knob="", trial=0,
        k=None, mv=None, cp=1.0, sp=1.0, knob_name=None, exact_loss=None):
    return {"schema_version": 3, "dataset": dataset, "topology": dataset, "arch": "a1",
            "method": method, "bits": 16, "weight_format": "fraction",
            "train_knob": train_knob, "train_multiplier": "", "train_memory": "",
            "checkpoint": "", "setting": "s1", "knob": knob, "knob_name": knob_name or knob,
            "domain": DOMAIN[kind], "multiplier": f"drum(k={k})" if k else "exact",
            "memory": f"flips(voltage_mv={mv}, rate=0.01)" if mv else "reliable",
            "voltage_mv": mv, "trial": trial, "seed": seed, "loss": loss, "accuracy": acc,
            "exact_loss": exact_loss, "exact_accuracy": 0.95, "deviation": dev,
            "compute_power": cp, "storage_power": sp, "sensitivity": 1.0, "epochs": 2}


def write_run(d: Path, rows, *, init=None, smap_scale=None, extra=()):
    """A run dir as `run` writes it (committed with a manifest)."""
    df = pd.DataFrame(rows)
    files = {"results.csv": csv_bytes(df[COLUMNS + [c for c in extra if c in df.columns]]),
             "config.yaml": (f"seed: 0\nmethod:\n  name: {rows[0]['method']}\n  init: "
                             f"{init or 'bp'}\n").encode()}
    if smap_scale is not None:
        r, c = np.meshgrid(np.arange(2), np.arange(3), indexing="ij")
        files["sensitivity_map.csv"] = csv_bytes(pd.DataFrame(
            {"row": r.ravel(), "col": c.ravel(), "value": smap_scale * (r * 3 + c + 1.0).ravel()}))
    commit_run(d, files)


def sweep_rows(ds, method, seed):
    exact = 0.1 + 0.01 * seed
    rows = [row(ds, method, seed, "exact", kind="exact", loss=exact, acc=0.95, exact_loss=exact)]
    for k, f in FACTOR[method].items():
        rows.append(row(ds, method, seed, k, kind="drum", loss=exact * f, acc=ACC[method][k],
                        dev=DEV[method], k=4, cp=K_POWER[k], exact_loss=exact,
                        train_knob=k if method == "axtrain" else ""))
    for level, (mv, sp) in LEVEL.items():
        shift = 0.1 * seed if (method, level) == ("bp", "aggressive") else 0.0
        for t, acc in enumerate(NTV.get(method, NTV["bp"])[level]):
            rows.append(row(ds, method, seed, level, kind="ntv", knob_name=f"ntv{mv}",
                            loss=0.3, acc=acc + shift, trial=t, mv=mv, sp=sp,
                            train_knob=level if method == "axtrain" else ""))
    return rows


def make_grid(root: Path, approxann=True):
    """bp/act/axtrain/pas (+ approxann from bp and act inits) x 2 datasets x 2 seeds."""
    n = 0
    for ds in DATASETS:
        for seed in SEEDS:
            for method, scale in (("bp", 1.0), ("act", 0.5), ("axtrain", None), ("pas", 0.25)):
                rows = sweep_rows(ds, "act" if method == "pas" else method, seed)
                if method == "pas":
                    rows = [{**r, "method": "pas", "train_knob": "K1"} for r in rows]
                write_run(root / f"{n}_{ds}_{method}_s{seed}", rows, smap_scale=scale)
                n += 1
            if not approxann:
                continue
            for init, mults in (("bp", {"K1": 100, "K2": 120}), ("act", {"K1": 125, "K2": 150})):
                for knob, m in mults.items():
                    rows = [row(ds, "approxann", seed, "exact", kind="exact", loss=0.1, acc=0.95,
                                train_knob=knob),
                            row(ds, "approxann", seed, f"approxann_{knob}", kind="approxann",
                                loss=0.12, acc=0.94, dev=float("nan"), train_knob=knob,
                                k=4, cp=1 - m / 400 * 0.7)]
                    fig = {"approx_multipliers": m, "total_multipliers": 400,
                           "approx_neurons": m // 10, "total_neurons": 40, "final_gamma": 0.1}
                    write_run(root / "deep" / f"{n}_{ds}_approxann_{init}_{knob}_s{seed}",
                              [{**r, **fig} for r in rows], init=init, extra=list(fig))
                    n += 1
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = make_grid(tmp_path_factory.mktemp("multirun"))
    out = root / "report"
    assert main([str(root), "--out", str(out)]) == 0
    return out


def read(out, name):
    return pd.read_csv(out / name, keep_default_na=True)


def test_tables_exist_with_columns(report):
    expect = {
        "fig4_sensitivity.csv": ["dataset", "method", "row", "col", "value", "relative"],
        "fig6_multiplier_error.csv": ["dataset", "knob", "method", "normalized_error",
                                      "deviation", "error_reduction_vs_bp_pct",
                                      "ratio_reduction_vs_bp_pct",
                                      "deviation_reduction_vs_bp_pct"],
        "fig7_ntv_accuracy.csv": ["dataset", "knob", "method", "voltage_mv", "accuracy_mean",
                                  "accuracy_std", "n_draws", "gain_points",
                                  "gain_relative_pct"],
        "fig8_approxann_multipliers.csv": ["dataset", "knob", "approx_multipliers_bp",
                                           "approx_multipliers_act", "total_multipliers",
                                           "increase_pct"],
        "fig9_power.csv": ["dataset", "method", "domain", "max_loss", "knob", "power",
                           "accuracy", "exact_accuracy", "reduction_vs_bp_pct",
                           "reduction_vs_approxann_pct"],
        "claims.csv": ["claim", "figure", "paper_value", "ours", "ci95_low", "ci95_high",
                       "n_seeds", "direction", "verdict", "note"],
    }
    for name, cols in expect.items():
        t = read(report, name)
        assert set(cols) <= set(t.columns), name
        if name != "claims.csv":
            assert "average" in set(t["dataset"]) or name == "fig4_sensitivity.csv"


def test_runs_summary(report):
    t = read(report, "runs_summary.csv").fillna({"init": "", "train_knob": ""})
    assert not t.duplicated(SUMMARY_KEYS).any()
    bp = t[(t.dataset == "satimage") & (t.method == "bp") & (t.knob == "aggressive")].iloc[0]
    draws = [0.5, 0.6, 0.7, 0.6, 0.7, 0.8]  # seed 1 is shifted by 0.1
    assert bp.accuracy == pytest.approx(0.65) and bp.n_trials == 6 and bp.n_seeds == 2
    assert bp.accuracy_std == pytest.approx(pd.Series(draws).std())
    ax = t[(t.method == "approxann") & (t.dataset == "satimage")]
    assert set(ax["init"]) == {"bp", "act"}
    k1 = ax[(ax.init == "act") & (ax.knob == "approxann_K1")].iloc[0]
    assert k1.approx_multipliers == 125 and k1.train_knob == "K1"
    assert set(t[t.method != "approxann"]["init"]) == {""}


def test_fig4_relative(report):
    t = read(report, "fig4_sensitivity.csv")
    assert set(t["dataset"]) == set(DATASETS) and set(t["method"]) == {"bp", "act", "pas"}
    bp = t[(t.dataset == "satimage") & (t.method == "bp")]
    assert bp["relative"].max() == pytest.approx(1.0)
    act = t[(t.dataset == "satimage") & (t.method == "act") & (t.row == 1) & (t.col == 2)]
    assert act["relative"].item() == pytest.approx(0.5)  # 0.5 * 6 / 6
    assert set(t.loc[t.method == "pas", "train_knob"]) == {"K1"}


def test_fig6_normalised_error_and_reductions(report):
    t = read(report, "fig6_multiplier_error.csv").set_index(["dataset", "knob", "method"])
    r = t.loc[("breast_cancer", "K1", "act")]
    assert r["normalized_error"] == pytest.approx(2.0)
    assert r["error_reduction_vs_bp_pct"] == pytest.approx(100 * (1 - 1 / 2))  # (2-1)/(3-1)
    assert r["ratio_reduction_vs_bp_pct"] == pytest.approx(100 * (1 - 2 / 3))
    assert r["deviation_reduction_vs_bp_pct"] == pytest.approx(50.0)
    assert r["exact_loss"] == pytest.approx(0.105)  # mean over seeds 0.10, 0.11
    avg = t.loc[("average", "K2", "axtrain")]
    assert avg["error_reduction_vs_bp_pct"] == pytest.approx(75.0)  # 1 - 0.25 / 1


def test_fig7_mean_std_gain(report):
    t = read(report, "fig7_ntv_accuracy.csv").set_index(["dataset", "knob", "method"])
    bp = t.loc[("satimage", "aggressive", "bp")]
    draws = [0.5, 0.6, 0.7, 0.6, 0.7, 0.8]  # seed 1 is shifted by 0.1
    assert bp["accuracy_mean"] == pytest.approx(np.mean(draws))
    assert bp["accuracy_std"] == pytest.approx(np.std(draws, ddof=1))
    assert bp["n_draws"] == 6 and bp["voltage_mv"] == 660
    ax = t.loc[("satimage", "aggressive", "axtrain")]
    # per seed (paired: each seed's axtrain against the same seed's bp), then over seeds
    gains = [100 * (0.85 - 0.6), 100 * (0.85 - 0.7)]
    assert ax["gain_points"] == pytest.approx(np.mean(gains))
    assert ax["gain_points_ci95"] == pytest.approx(12.7062 * np.std(gains, ddof=1) / np.sqrt(2),
                                                   rel=1e-4)  # t(0.975, 1 df) = 12.706
    assert ax["gain_relative_pct"] == pytest.approx(np.mean([100 * (0.85 / 0.6 - 1),
                                                             100 * (0.85 / 0.7 - 1)]))
    assert ax["n_seeds"] == 2


def test_fig8_increase(report):
    t = read(report, "fig8_approxann_multipliers.csv").set_index(["dataset", "knob"])
    r = t.loc[("breast_cancer", "K1")]
    assert (r["approx_multipliers_bp"], r["approx_multipliers_act"]) == (100, 125)
    assert r["total_multipliers"] == 400
    assert r["increase_pct"] == pytest.approx(25.0)
    assert r["increase_points"] == pytest.approx(100 * (125 - 100) / 400)
    assert t.loc[("average", "K2"), "increase_pct"] == pytest.approx(25.0)
    assert t.loc[("average", "K2"), "increase_points"] == pytest.approx(100 * 30 / 400)


def test_fig8_keeps_the_two_readings_of_the_constraint_apart(tmp_path):
    root = make_grid(tmp_path / "runs")
    for ds in DATASETS:
        for init, m in (("bp", 200), ("act", 300)):  # ApproxANN under the error reading
            rows = [row(ds, "approxann", 0, "exact", kind="exact", loss=0.1, acc=0.95,
                        train_knob="K1"),
                    row(ds, "approxann", 0, "approxann_K1", kind="approxann", loss=0.102,
                        acc=0.9, train_knob="K1", k=4, cp=0.5)]
            fig = {"approx_multipliers": m, "total_multipliers": 400,
                   "constraint_reading": "error"}
            write_run(root / f"err_{ds}_{init}", [{**r, **fig} for r in rows], init=init,
                      extra=list(fig))
    build_report([root], tmp_path / "out", plots=False)
    t = read(tmp_path / "out", "fig8_approxann_multipliers.csv")
    t = t.set_index(["dataset", "knob", "constraint"])
    assert t.loc[("breast_cancer", "K1", "accuracy"), "increase_pct"] == pytest.approx(25.0)
    assert t.loc[("breast_cancer", "K1", "error"), "increase_pct"] == pytest.approx(50.0)
    assert t.loc[("average", "K1", "error"), "n_seeds"] == 1
    c = read(tmp_path / "out", "claims.csv").set_index("claim")
    assert c.loc["more approximate multipliers with act init vs BP init at K1, 2 % error "
                 "rise (%)", "ours"] == pytest.approx(50.0)


def test_fig9_takes_approxann_of_the_same_reading(tmp_path):
    """Fig. 9's ApproxANN power under each reading of "2 %" comes from the ApproxANN runs
    trained under that reading, never from a mean over both."""
    root = make_grid(tmp_path / "runs")
    for ds in DATASETS:
        for seed in SEEDS:
            rows = [row(ds, "approxann", seed, "exact", kind="exact", loss=0.1, acc=0.95,
                        train_knob="K1", exact_loss=0.1),
                    row(ds, "approxann", seed, "approxann_K1", kind="approxann", loss=0.101,
                        acc=0.9, train_knob="K1", k=4, cp=0.5, exact_loss=0.1)]
            fig = {"approx_multipliers": 200, "total_multipliers": 400,
                   "constraint_reading": "error"}
            write_run(root / f"err_{ds}_s{seed}", [{**r, **fig} for r in rows], init="bp",
                      extra=list(fig))
    build_report([root], tmp_path / "out", plots=False)
    t = read(tmp_path / "out", "fig9_power.csv")
    t = t.set_index(["constraint", "dataset", "method", "domain", "max_loss"])
    acc = t.loc[("accuracy", "satimage", "approxann", "compute", 2.0)]
    assert acc["knob"] == "approxann_K2" and acc["power"] == pytest.approx(1 - 0.3 * 0.7)
    err = t.loc[("error", "satimage", "approxann", "compute", 2.0)]
    assert err["knob"] == "approxann_K1" and err["power"] == pytest.approx(0.5)
    assert err["n_seeds"] == 2
    s = read(tmp_path / "out", "runs_summary.csv").fillna("")
    s = s[(s.dataset == "satimage") & (s.method == "approxann") & (s.init == "bp")
          & (s.train_knob == "K1") & s.knob.str.startswith("approxann")]
    assert s.set_index("constraint")["accuracy"].to_dict() == pytest.approx(
        {"accuracy": 0.94, "error": 0.9})  # one cell per reading, not their mean


def test_fig9_error_reading_falls_back_to_accuracy_runs_with_a_warning(report, tmp_path):
    t = read(report, "fig9_power.csv")
    t = t.set_index(["constraint", "dataset", "method", "domain", "max_loss"])
    # accuracy-trained ApproxANN judged by the error rise: its K1/K2 raise the loss by 20 %
    assert t.loc[("error", "satimage", "approxann", "compute", 2.0), "knob"] == "exact"
    res = build_report([report.parent], tmp_path / "again", plots=False)
    assert any("no approxann runs with method.constraint=error" in w for w in res["warnings"])


def test_fig9_chosen_knobs(report):
    t = read(report, "fig9_power.csv")
    t["knob"] = t["knob"].fillna("")
    err = t[t.constraint == "error"].set_index(["dataset", "method", "domain", "max_loss"])
    t = t[t.constraint == "accuracy"].set_index(["dataset", "method", "domain", "max_loss"])
    assert t.loc[("satimage", "bp", "compute", 2.0), "knob"] == "K3"  # K1/K2 lose > 2 points
    ax = t.loc[("satimage", "axtrain", "compute", 2.0)]
    assert ax["knob"] == "K1" and ax["power"] == pytest.approx(0.3)
    assert ax["reduction_vs_bp_pct"] == pytest.approx(50.0)
    aa = t.loc[("satimage", "approxann", "compute", 2.0)]  # init=bp: 120 of 400 at K2
    assert aa["knob"] == "approxann_K2" and aa["power"] == pytest.approx(1 - 0.3 * 0.7)
    assert ax["reduction_vs_approxann_pct"] == pytest.approx(100 * (1 - 0.3 / 0.79))
    assert t.loc[("satimage", "bp", "storage", 2.0), "knob"] == "exact"
    assert t.loc[("satimage", "axtrain", "storage", 2.0), "knob"] == "ntv850"
    assert t.loc[("satimage", "bp", "storage", 6.0), "knob"] == "ntv850"  # 5 points lost
    # the other reading: output error at most 2 % above the same network's exact error
    assert err.loc[("satimage", "bp", "compute", 2.0), "knob"] == "exact"  # K4: +10 %
    e = err.loc[("satimage", "axtrain", "compute", 2.0)]
    assert e["knob"] == "K4" and e["reduction_vs_bp_pct"] == pytest.approx(25.0)  # +2 %
    assert err.loc[("satimage", "axtrain", "compute", 6.0), "knob"] == "K4"
    assert err.loc[("satimage", "axtrain", "storage", 6.0), "knob"] == "exact"  # +200 %


def test_claims(report):
    c = read(report, "claims.csv")
    # figs 8 and 9 under both readings of "2 %", fig 8 relative and in points
    assert len(c) == 6 + 4 + 8 + 4 + 3
    pts = c.set_index("claim").loc["more approximate multipliers with act init vs BP init at"
                                   " K1 (points of the share)"]
    assert pts["ours"] == pytest.approx(6.25) and pts["verdict"] == "agrees"
    k1 = c[c.claim.str.startswith("act output error reduction vs BP at K1")].iloc[0]
    assert k1["paper_value"] == 40.77 and k1["ours"] == pytest.approx(50.0)
    # the same effect in both seeds: an interval of width 0 above zero
    assert k1["verdict"] == "agrees" and k1["n_seeds"] == 2
    assert k1["ci95_low"] == pytest.approx(50.0) == k1["ci95_high"]
    sat = c[c.claim.str.startswith("satimage")].iloc[0]
    assert sat["ours"] == pytest.approx(0.0) and sat["verdict"] == "inconclusive"
    gain = c[c.claim == "axtrain accuracy gain vs BP at aggressive NTV (points)"].iloc[0]
    assert gain["ci95_low"] < 0 < gain["ours"] and gain["verdict"] == "inconclusive"
    assert c["figure"].isin(["fig6", "fig7", "fig8", "fig9"]).all()


def test_plots_written(report):
    pytest.importorskip("matplotlib")
    for name in ["fig4_breast_cancer.png", "fig4_satimage.png", "fig6.png", "fig7.png",
                 "fig8.png", "fig9.png"]:
        assert (report / name).stat().st_size > 1000, name


def test_no_results_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "empty")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "empty") in err


def test_cli_dispatch_exit_code(tmp_path):
    """Through the console script's dispatcher: exit code 2 and one stderr line."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "report", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(tmp_path) in r.stderr


def test_incompatible_schema_skipped(tmp_path, capsys):
    root = make_grid(tmp_path / "runs")
    bad = root / "zz_future"
    rows = sweep_rows("satimage", "bp", 7)
    write_run(bad, [{**r, "schema_version": 4} for r in rows])
    r = build_report([root], tmp_path / "out", plots=False)
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if str(bad / "results.csv") in ln)
    assert "schema_version" in line and "4" in line
    assert not r["skipped"]
    assert (tmp_path / "out" / "fig6_multiplier_error.csv").exists()
    t = read(tmp_path / "out", "fig6_multiplier_error.csv")
    assert t["n_seeds"].max() == 2  # the seed-7 run was not read


def test_missing_approxann_skips_fig8_only(tmp_path, capsys):
    root = make_grid(tmp_path / "runs", approxann=False)
    assert main([str(root), "--no-plots"]) == 0
    cap = capsys.readouterr()
    warn = [ln for ln in cap.err.splitlines() if "fig8_approxann_multipliers.csv" in ln]
    assert len(warn) == 1 and "method=approxann" in warn[0] and "init=" in warn[0]
    out = root / "report"
    assert not (out / "fig8_approxann_multipliers.csv").exists()
    assert not list(out.glob("*.png"))
    for name in ["fig4_sensitivity.csv", "fig6_multiplier_error.csv", "fig7_ntv_accuracy.csv",
                 "fig9_power.csv", "claims.csv"]:
        assert (out / name).exists(), name
        assert name in cap.out
    c = read(out, "claims.csv")
    f8 = c[c.figure == "fig8"]
    assert f8["ours"].isna().all() and f8["note"].str.contains("not built").all()
    t = read(out, "fig9_power.csv")
    assert t["reduction_vs_approxann_pct"].isna().all()


def test_act_init_from_results_column(tmp_path):
    """A results column `init` wins over config.yaml's method.init."""
    root = make_grid(tmp_path / "runs")
    for f in (root / "deep").rglob("results.csv"):
        df = pd.read_csv(f)
        df["init"] = "act" if "_act_" in f.parent.name else "bp"
        commit_run(f.parent, {"results.csv": csv_bytes(df)})  # and no config.yaml
    build_report([root], tmp_path / "out", plots=False)
    t = read(tmp_path / "out", "fig8_approxann_multipliers.csv")
    assert math.isclose(t.loc[t.dataset == "average", "increase_pct"].iloc[0], 25.0)


def test_schema_1_files_are_upgraded(tmp_path):
    """A results.csv of schema_version 1 (knob_kind, k, flip_rate) is read as schema 2."""
    root = make_grid(tmp_path / "runs", approxann=False)
    for f in root.rglob("results.csv"):
        df = pd.read_csv(f)
        kind = df["domain"].map({"exact": "exact", "compute": "drum", "storage": "ntv"})
        df = df.assign(schema_version=1, knob_kind=kind, k=df["multiplier"].str.extract(
            r"k=(\d+)")[0].astype(float), flip_rate=np.where(kind == "ntv", 0.01, np.nan))
        write_csv(f, df.drop(columns=["domain", "multiplier", "memory"]))
    r = build_report([root], tmp_path / "out", plots=False)
    assert not any("skipped" in w and "schema" in w for w in r["warnings"])
    t = read(tmp_path / "out", "fig7_ntv_accuracy.csv")
    t = t[t.dataset != "average"]
    assert set(t["memory"]) == {"flips(voltage_mv=660, rate=0.01)",
                                "flips(voltage_mv=850, rate=0.01)"}
    t = read(tmp_path / "out", "fig6_multiplier_error.csv")
    assert set(t["multiplier"]) == {"drum(k=4)"} and len(t) == 3 * 4 * 3


def test_incomplete_and_damaged_runs_are_skipped(tmp_path, capsys):
    """A run interrupted while writing (no manifest), one whose files no longer match its
    manifest, and one with a bad cell are skipped with one warning each; the rest is read."""
    root = make_grid(tmp_path / "runs", approxann=False)
    runs = sorted(p.parent for p in root.rglob("results.csv"))
    (runs[0] / "manifest.json").unlink()
    with open(runs[1] / "results.csv", "a") as f:
        f.write(open(runs[1] / "results.csv").read().splitlines()[-1] + "\n")
    df = pd.read_csv(runs[2] / "results.csv")
    df["accuracy"] = df["accuracy"].astype(object)
    df.loc[3, "accuracy"] = "0.9x"
    commit_run(runs[2], {"results.csv": csv_bytes(df)})
    r = build_report([root], tmp_path / "out", plots=False)
    err = capsys.readouterr().err.splitlines()
    for run, why in zip(runs[:3], ["manifest.json: it is missing",
                                   "manifest.json: its files do not match it",
                                   "line 5, column accuracy: '0.9x' is not a number"]):
        assert sum(str(run / "results.csv") in ln and why in ln for ln in err) == 1, (run, err)
    assert r["runs"] == len(runs) - 3


def test_out_pointing_at_a_file_is_one_line(tmp_path, capsys):
    root = make_grid(tmp_path / "runs", approxann=False)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(SystemExit) as e:
        main([str(root), "--out", str(tmp_path / "taken")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "taken" in err


def test_fig6_normalises_each_network_by_its_own_exact_loss(tmp_path):
    """AxTrain's K1 row comes from the network tuned at K1: its error is divided by that
    network's own exact loss, not by act's exact loss (the method's exact row)."""
    root = make_grid(tmp_path / "runs", approxann=False)
    for f in root.rglob("results.csv"):
        df = pd.read_csv(f)
        if df.method.iloc[0] == "axtrain":
            tuned = df.knob == "K1"
            df.loc[tuned, "exact_loss"] = df.loc[tuned, "loss"] / 1.2  # its own exact loss
            commit_run(f.parent, {"results.csv": csv_bytes(df)})
    build_report([root], tmp_path / "out", plots=False)
    t = read(tmp_path / "out", "fig6_multiplier_error.csv").set_index(["dataset", "knob",
                                                                      "method"])
    assert t.loc[("satimage", "K1", "axtrain"), "normalized_error"] == pytest.approx(1.2)
    assert t.loc[("satimage", "K2", "axtrain"), "normalized_error"] == pytest.approx(1.25)
    assert t.loc[("satimage", "K1", "bp"), "normalized_error"] == pytest.approx(3.0)


def test_out_of_range_metrics_and_arguments(tmp_path, capsys):
    root = make_grid(tmp_path / "runs", approxann=False)
    run = sorted(p.parent for p in root.rglob("results.csv"))[0]
    df = pd.read_csv(run / "results.csv")
    df.loc[0, "accuracy"] = float("inf")
    commit_run(run, {"results.csv": csv_bytes(df)})  # a manifest that matches
    build_report([root], tmp_path / "out", plots=False)
    assert any(str(run) in ln and "column accuracy: inf is not in [0, 1]" in ln
               for ln in capsys.readouterr().err.splitlines())
    for args in (["--max-loss", "nan"], ["--relaxed-loss", "-5"]):
        with pytest.raises(SystemExit) as e:
            main([str(root), "--out", str(tmp_path / "o2"), *args])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and args[0] in err


def test_claim_verdicts_follow_the_interval():
    from axtrain_cli.report.claims import verdict

    assert verdict(5.0, 2.0) == "agrees" and verdict(-5.0, 2.0) == "disagrees"
    assert verdict(1.0, 2.0) == "inconclusive" and verdict(-1.0, 2.0) == "inconclusive"
    assert verdict(5.0, float("nan")) == "inconclusive"  # one seed: no interval
    assert verdict(float("nan"), 1.0) == "not measured"


def test_one_seed_tables_equal_the_seed_built_alone(tmp_path):
    """The multi-seed machinery changes nothing for one seed: the interval is empty and the
    values are that seed's own."""
    from axtrain_cli.report.common import over_seeds
    from axtrain_cli.report.load import load_runs
    from axtrain_cli.report.tables import _fig6

    df = load_runs([make_grid(tmp_path, approxann=False)], lambda m: None)
    one = df[df["seed"] == 1]
    t = over_seeds(_fig6, one, ["dataset", "knob", "multiplier", "method"],
                   ["normalized_error"])
    want = _fig6(one)
    assert t["normalized_error_ci95"].isna().all() and (t["n_seeds"] == 1).all()
    cols = [c for c in want.columns if c != "n_seeds"]  # (average rows now count theirs)
    pd.testing.assert_frame_equal(t[cols].reset_index(drop=True),
                                  want[cols].reset_index(drop=True), check_dtype=False)


def test_ci95_is_zero_for_equal_values_and_the_t_interval_otherwise():
    from axtrain_cli.report.common import ci95

    assert ci95(pd.Series([0.093] * 3)) == 0.0  # (its float std is 4e-17, not 0)
    assert math.isnan(ci95(pd.Series([1.0, np.nan])))
    # t(0.975, 2) = 4.302653; std 1, three values
    assert ci95(pd.Series([1.0, 2.0, 3.0])) == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_claims_state_the_magnitude_against_the_paper(report):
    """Beside the sign verdict, the ratio to the paper's number with its interval and a
    magnitude verdict: a reduction of 50 % with a zero-width interval is 'within 2x' of
    40.77 %, one of 33.3 % against the paper's 75.61 % is 'smaller'."""
    from axtrain_cli.report.claims import magnitude

    c = read(report, "claims.csv").set_index("claim")
    k1 = c.loc["act output error reduction vs BP at K1 (%)"]
    assert k1["ratio_to_paper"] == pytest.approx(50.0 / 40.77)
    assert k1["ratio_ci95_low"] == pytest.approx(50.0 / 40.77)  # both seeds alike
    assert k1["magnitude"] == "within 2x" and k1["verdict"] == "agrees"
    assert magnitude(0.1, 0.2, 5.95) == "smaller" and magnitude(2.5, 3.0, 1.0) == "larger"
    assert magnitude(0.3, 1.5, 1.0) == "inconclusive"  # straddles a bound
    assert magnitude(float("nan"), float("nan"), 1.0) == "inconclusive"  # one seed


def test_a_claim_without_a_value_says_what_is_missing(tmp_path):
    """BP's error at K1 no higher than on exact hardware: the excess reading is undefined,
    and the claim says so with the measured numbers instead of 'not measured'; a knob the
    runs never evaluated is 'not measured', naming the row."""
    root = make_grid(tmp_path / "runs", approxann=False)
    for f in root.rglob("results.csv"):
        df = pd.read_csv(f)
        if df["method"].iloc[0] == "bp":
            k1 = df["knob"] == "K1"
            df.loc[k1, "loss"] = df.loc[k1, "exact_loss"] * 0.98  # no excess error at K1
            df = df[df["knob"] != "K3"]  # and K3 not evaluated
            commit_run(f.parent, {"results.csv": csv_bytes(df)})
    build_report([root], tmp_path / "out", plots=False)
    c = read(tmp_path / "out", "claims.csv").set_index("claim")
    k1 = c.loc["axtrain output error reduction vs BP at K1 (%)"]
    assert math.isnan(k1["ours"]) and k1["verdict"] == "undefined"
    assert "0.9800 x its exact-hardware error" in k1["note"] and "ratio reading" in k1["note"]
    k3 = c.loc["act output error reduction vs BP at K3 (%)"]
    assert k3["verdict"] == "not measured"
    assert "no row with dataset=average, knob=K3, method=bp" in k3["note"]
    k2 = c.loc["act output error reduction vs BP at K2 (%)"]
    assert k2["verdict"] == "agrees" and not math.isnan(k2["ours"])


def test_a_report_never_mixes_old_and_new_files(tmp_path, capsys):
    """A second report into the same folder from runs that build fewer tables removes the
    first report's tables and plots it did not write again, says so, and leaves a user's
    own files alone."""
    root = make_grid(tmp_path / "runs")
    out = tmp_path / "out"
    assert main([str(root), "--out", str(out)]) == 0
    first = {p.name for p in out.iterdir()}
    assert {"fig6_multiplier_error.csv", "claims.csv", "fig6.png"} <= first
    (out / "notes.txt").write_text("mine")
    only_bp = tmp_path / "bp"
    for f in root.glob("*_bp_*/results.csv"):
        write_run(only_bp / f.parent.name, pd.read_csv(f).to_dict("records"))
    capsys.readouterr()
    assert main([str(only_bp), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    now = {p.name for p in out.iterdir()}
    assert now == {"runs_summary.csv", "report.json", "notes.txt"}
    assert "removed fig6_multiplier_error.csv" in printed
    assert "not built fig6_multiplier_error.csv: no act or axtrain runs" in printed
