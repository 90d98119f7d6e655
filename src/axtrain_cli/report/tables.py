"""Figure tables 4, 6 and 7 and the summary of every run cell.

fig4_sensitivity.csv  last-layer sensitivity maps of BP, act, pas (pas: train_knob K1
    preferred); `relative` = value / max over the three maps of the dataset.
fig6_multiplier_error.csv  output error (loss) on every compute knob (approximate
    multiplier: K1..K4 and any other) normalised to the same network's exact-hardware loss
    (each row's exact_loss: AxTrain's network tuned for K1 by its own exact loss, not
    act's; schema-1 files: the method's exact row), per seed, then averaged, for
    bp/act/axtrain. Readings of the paper's "reduces error
    by X %" (the paper does not say which it means):
      error_reduction_vs_bp_pct = 100 (1 - (n_m - 1) / (n_bp - 1)), the reduction of the
          approximation-induced EXCESS error (n = normalised error; only where n_bp > 1).
          This is our primary reading (the one compared in claims.csv).
      ratio_reduction_vs_bp_pct = 100 (1 - n_m / n_bp), the plain ratio of the bars.
      deviation_reduction_vs_bp_pct = 100 (1 - dev_m / dev_bp), dev = output deviation
          from the same network on exact fixed point (0 at exact by definition).
fig7_ntv_accuracy.csv  accuracy on every storage knob (the dataset's aggressive and
    conservative levels, and any other memory knob evaluated), mean and sample std
    (ddof=1) pooled over all reads of all seeds; gain of axtrain over bp in accuracy
    points (gain_points = 100 (a_ax - a_bp)) and relative (gain_relative_pct =
    100 (a_ax / a_bp - 1)); the paper's "+32.10 %" may be either.
runs_summary.csv  every run cell in one table: per dataset, method, init, constraint
    (ApproxANN's reading of its "2 %": accuracy or error), train_knob and knob, the mean
    (and pooled std) accuracy, loss, deviation and sensitivity S(w) (seed_mean), approximate
    multipliers where ApproxANN reports them. The committed reference run (docs/reference/)
    is compared on this table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .common import (
    FIG,
    LABEL,
    Missing,
    differing,
    in_domain,
    labelled,
    need,
    order,
    over_seeds,
    seed_mean,
    vs,
    with_average,
)


def fig4(df: pd.DataFrame, warn) -> pd.DataFrame:
    runs = df[df["method"].isin(["bp", "act", "pas"])].drop_duplicates("run_dir")
    if runs.empty:
        raise Missing("no bp/act/pas runs (needs method=bp, method=act, method=pas)")
    out, lacking = [], []
    for ds, r in runs.groupby("dataset"):
        pas = r[r["method"] == "pas"]
        if (pas["train_knob"] == "K1").any():
            r = r[(r["method"] != "pas") | (r["train_knob"] == "K1")]
        maps = []
        for m in ["bp", "act", "pas"]:
            files = [Path(d) / "sensitivity_map.csv" for d in r.loc[r["method"] == m, "run_dir"]]
            files = [f for f in files if f.is_file()]
            if not files:
                lacking.append(f"{ds}: {m}")
                break
            mp = pd.concat([pd.read_csv(f) for f in files]).groupby(["row", "col"])["value"]
            mp = mp.mean().reset_index()
            knobs = sorted(set(r.loc[r["method"] == m, "train_knob"]))
            maps.append(mp.assign(dataset=ds, method=m, train_knob="|".join(knobs),
                                  n_runs=len(files)))
        else:
            t = pd.concat(maps, ignore_index=True)
            vmax = t["value"].max()
            t["relative"] = t["value"] / vmax if vmax > 0 else np.nan
            out.append(t)
    if lacking:
        msg = ("no sensitivity map for " + ", ".join(lacking) + " (needs method=bp, act "
               "and pas (method.knob=K1) runs with sensitivity_map.csv)")
        if not out:
            raise Missing(msg)
        warn(f"{FIG['fig4_sensitivity']}: {msg}")
    t = pd.concat(out, ignore_index=True)
    return t[["dataset", "method", "train_knob", "row", "col", "value", "relative", "n_runs"]]


def fig6(df: pd.DataFrame) -> pd.DataFrame:
    t = over_seeds(_fig6, df, ["dataset", "knob", "multiplier", "method"],
                   ["normalized_error", "error_reduction_vs_bp_pct", "ratio_reduction_vs_bp_pct",
                    "deviation_reduction_vs_bp_pct"])
    return order(t, ["dataset", "knob", "method"])


def _fig6(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "act", "axtrain"])
           & ((df["domain"] == "exact") | (df["domain"] == "compute"))]
    need(d, ["bp"], " at exact/compute knobs")
    if not d["method"].isin(["act", "axtrain"]).any():
        raise Missing("no act or axtrain runs at exact/compute knobs (needs method=act or "
                      "method=axtrain)")
    keys = ["dataset", "method", "seed"]
    per_seed = d.groupby(keys + ["knob"])[["loss", "exact_loss", "deviation"]].mean()
    per_seed = per_seed.reset_index()
    method_exact = per_seed[per_seed["knob"] == "exact"][keys + ["loss"]]
    k = per_seed[per_seed["knob"] != "exact"].merge(
        method_exact.rename(columns={"loss": "method_exact"}), on=keys, how="left")
    k["exact_loss"] = k["exact_loss"].fillna(k["method_exact"])
    k = k.dropna(subset=["exact_loss"])
    if k.empty:
        raise Missing("no compute-knob rows with the network's exact loss (needs eval.knobs "
                      "with exact and K1..K4)")
    k["normalized_error"] = k["loss"] / k["exact_loss"]
    t = seed_mean(k, ["dataset", "knob", "method"],
                  ["loss", "exact_loss", "normalized_error", "deviation"])
    labels = d.drop_duplicates("knob").set_index("knob")["multiplier"]
    t.insert(2, "multiplier", t["knob"].map(labels))
    n, nb = t["normalized_error"].to_numpy(), vs(t, ["dataset", "knob"], "normalized_error", "bp")
    dev, db = t["deviation"].to_numpy(), vs(t, ["dataset", "knob"], "deviation", "bp")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["error_reduction_vs_bp_pct"] = np.where(nb > 1, 100 * (1 - (n - 1) / (nb - 1)), np.nan)
        t["ratio_reduction_vs_bp_pct"] = 100 * (1 - n / nb)
        t["deviation_reduction_vs_bp_pct"] = np.where(db > 0, 100 * (1 - dev / db), np.nan)
    t = with_average(t, ["knob", "multiplier", "method"],
                     [c for c in t.columns if c not in ("dataset", "knob", "multiplier",
                                                        "method", "n_seeds")])
    return order(t, ["dataset", "knob", "method"])


def fig7(df: pd.DataFrame) -> pd.DataFrame:
    t = over_seeds(_fig7, df, ["dataset", "knob", "method"],
                   ["accuracy_mean", "gain_points", "gain_relative_pct"],
                   pooled=("accuracy_std", "n_draws"))
    return order(t, ["dataset", "knob", "method"])


def _fig7(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "axtrain"]) & in_domain(df, "storage")]
    need(d, ["bp", "axtrain"], " at storage knobs (NTV)")
    t = d.groupby(["dataset", "knob", "method"]).agg(
        memory=("memory", "first"), voltage_mv=("voltage_mv", "mean"),
        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
        n_draws=("accuracy", "size"), n_seeds=("seed", "nunique")).reset_index()
    a, ab = t["accuracy_mean"].to_numpy(), vs(t, ["dataset", "knob"], "accuracy_mean", "bp")
    is_bp = (t["method"] == "bp").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["gain_points"] = np.where(is_bp, np.nan, 100 * (a - ab))
        t["gain_relative_pct"] = np.where(is_bp, np.nan, 100 * (a / ab - 1))
    t = with_average(t, ["knob", "method"], ["voltage_mv", "accuracy_mean", "accuracy_std",
                                             "gain_points", "gain_relative_pct"])
    t["memory"] = t["memory"].fillna("")
    return order(t, ["dataset", "knob", "method"])


SUMMARY_KEYS = LABEL


def runs_summary(df: pd.DataFrame, warn=None) -> pd.DataFrame:
    """One row per run cell: its label (dataset, method, init, constraint, train_knob,
    knob; init and constraint are ApproxANN's, empty for the other methods) and, where
    runs share a label but measured different things, one row per cell with the differing
    settings as columns of their own; seed means of the metrics."""
    cols = ["accuracy", "loss", "deviation", "sensitivity"]
    if "approx_multipliers" in df.columns:
        cols.append("approx_multipliers")
    d = labelled(df)
    diff = differing(df)
    keys = SUMMARY_KEYS + (["cell"] if diff else [])
    t = seed_mean(d, keys, cols)
    stats = d.groupby(keys).agg(accuracy_std=("accuracy", "std"),
                                n_trials=("accuracy", "size")).reset_index()
    t = t.merge(stats, on=keys)
    extra = []
    if diff:
        from ..results.identity import settings
        from .load import read_config

        first = d.drop_duplicates("cell").set_index("cell")
        configs = {r: settings(read_config(r)) for r in first["run_dir"].unique()}
        for col in diff:
            values = (first[col].astype(str) if col in first.columns else
                      first["run_dir"].map(lambda r, c=col: str(configs[r].get(c))))
            t[col] = t["cell"].map(values)
            extra.append(col)
        if warn:
            warn("runs_summary.csv: runs with the same label measured different things; kept "
                 "apart, with the columns " + ", ".join(diff) + " (" + "; ".join(
                     f"{k}: {' | '.join(v)}" for k, v in diff.items()) + ")")
    return order(t[SUMMARY_KEYS + extra + ["accuracy", "accuracy_std", *cols[1:], "n_trials",
                                           "n_seeds"]], SUMMARY_KEYS + extra)
