"""Figure tables 8 and 9: what the approximate multipliers and memories buy.

fig8_approxann_multipliers.csv  approximate multipliers ApproxANN uses with each knob it
    was run at (train_knob: K1, K2, ...) from a BP init vs an act init, per reading of its
    "2 %" constraint (`constraint`: accuracy points or % rise of the test loss, ApproxANN's
    method.constraint); increase_pct = 100 (act / bp - 1), the relative reading of the
    paper's "X % more", and increase_points = 100 (act - bp) / total, the same in points of
    the share of multipliers (stable where BP's share is small).
fig9_power.csv  per dataset, method and domain, the lowest-power knob within the allowed
    degradation, under both readings of the paper's "2 %" (`constraint`): `accuracy`, the
    mean accuracy within `max_loss` accuracy POINTS of the method's own exact accuracy
    (the same reading as ApproxANN's method.max_loss), and `error`, the network's output
    error (test loss) at most `max_loss` % above that network's own on exact hardware
    (Fig. 6's normalised error <= 1.02); rows for --max-loss (2) and --relaxed-loss (6,
    the paper's Satimage case). compute: exact and every compute knob (compute_power);
    storage: exact and every storage knob (storage_power); approxann (init=bp preferred):
    its own results or exact, compute only, each reading from the ApproxANN runs trained
    under that reading (method.constraint; the other reading's runs, with a warning, where
    none were). reduction_* = 100 (1 - power / power_ref).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import FIG, Missing, need, order, over_seeds, seed_mean, vs, with_average, with_reading


def fig8(df: pd.DataFrame) -> pd.DataFrame:
    t = over_seeds(_fig8, df, ["dataset", "knob", "constraint"],
                   ["approx_fraction_bp", "approx_fraction_act", "increase_pct",
                    "increase_points"])
    return order(t, ["constraint", "dataset", "knob"])


def _fig8(df: pd.DataFrame) -> pd.DataFrame:
    a = df[(df["method"] == "approxann")]
    if "approx_multipliers" in a.columns:
        a = a[a["approx_multipliers"].notna()]
    for init in ("bp", "act"):
        if not (a["init"] == init).any():
            raise Missing(f"no approxann runs with init={init} (needs method=approxann"
                          f" method.init={init} method.knob=K1,K2)")
    cols = ["approx_multipliers", "total_multipliers", "accuracy"]
    a = with_reading(a)
    t = seed_mean(a[a["init"].isin(["bp", "act"])],
                  ["dataset", "train_knob", "constraint", "init"], cols)
    w = t.pivot(index=["dataset", "train_knob", "constraint"], columns="init",
                values=cols + ["n_seeds"])
    w.columns = [f"{c}_{i}" for c, i in w.columns]
    w = w.reset_index().rename(columns={"train_knob": "knob"})
    w["total_multipliers"] = w[["total_multipliers_bp", "total_multipliers_act"]].mean(axis=1)
    for i in ("bp", "act"):
        w[f"approx_fraction_{i}"] = w[f"approx_multipliers_{i}"] / w["total_multipliers"]
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = 100 * (w["approx_multipliers_act"] / w["approx_multipliers_bp"] - 1)
    w["increase_pct"] = inc.replace([np.inf, -np.inf], np.nan)
    w["increase_points"] = 100 * (w["approx_fraction_act"] - w["approx_fraction_bp"])
    w = w[["dataset", "knob", "constraint", "total_multipliers", "approx_multipliers_bp",
           "approx_multipliers_act", "approx_fraction_bp", "approx_fraction_act",
           "accuracy_bp", "accuracy_act", "n_seeds_bp", "n_seeds_act", "increase_pct",
           "increase_points"]]
    w = with_average(w, ["knob", "constraint"],
                     [c for c in w.columns if c.startswith(("approx", "total", "accuracy",
                                                            "incr"))])
    return order(w, ["constraint", "dataset", "knob"])


POWER_COLUMN = {"compute": "compute_power", "storage": "storage_power"}
READINGS = ("accuracy", "error")


def fig9(df: pd.DataFrame, losses: list[float], warn) -> pd.DataFrame:
    t = over_seeds(lambda d: _fig9(d, losses, warn), df, ["constraint", "max_loss", "domain",
                                                         "dataset", "method"],
                   ["power", "reduction_vs_bp_pct", "reduction_vs_approxann_pct"])
    return order(t, ["constraint", "max_loss", "domain", "dataset", "method"])


def _fig9(df: pd.DataFrame, losses: list[float], warn) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "axtrain"])]
    need(d, ["bp", "axtrain"], "")
    ax = df[(df["method"] == "approxann") & df["domain"].isin(["exact", "compute"])]
    if (ax["init"] == "bp").any():
        ax = ax[ax["init"] == "bp"]
    elif not ax.empty:
        warn(f"{FIG['fig9_power']}: no approxann runs with init=bp; using init="
             f"{'|'.join(sorted(set(ax['init'])))} for the ApproxANN comparison")
    else:
        warn(f"{FIG['fig9_power']}: no approxann runs (needs method=approxann method.init=bp);"
             f" the ApproxANN comparison is left blank")
    ax = with_reading(ax)
    rows = []
    for constraint in READINGS:
        a = ax[ax["constraint"] == constraint]
        if a.empty and not ax.empty:
            a = ax
            warn(f"{FIG['fig9_power']}: no approxann runs with method.constraint={constraint};"
                 f" its {constraint} reading uses the runs of method.constraint="
                 f"{'|'.join(sorted(set(ax['constraint'])))}")
        rows += _fig9_rows(pd.concat([d, a], ignore_index=True), losses, constraint)
    if not rows:
        raise Missing("no bp/axtrain runs with exact rows (needs eval.knobs with exact)")
    t = pd.DataFrame(rows)
    keys, p = ["dataset", "domain", "max_loss", "constraint"], t["power"].to_numpy(dtype=float)
    t["reduction_vs_bp_pct"] = 100 * (1 - p / vs(t, keys, "power", "bp"))
    red_ax = 100 * (1 - p / vs(t, keys, "power", "approxann"))
    t["reduction_vs_approxann_pct"] = np.where(t["method"] == "axtrain", red_ax, np.nan)
    t = with_average(t, ["method", "domain", "max_loss", "constraint"],
                     ["power", "accuracy", "exact_accuracy", "reduction_vs_bp_pct",
                      "reduction_vs_approxann_pct"])
    t["knob"] = t["knob"].fillna("")
    return order(t, ["constraint", "max_loss", "domain", "dataset", "method"])


def _fig9_rows(d: pd.DataFrame, losses: list[float], constraint: str) -> list[dict]:
    """Per dataset, method and domain, the lowest-power knob of `d` (bp, axtrain and the
    ApproxANN runs of this reading) within each loss of `losses` under `constraint`."""
    c = seed_mean(d, ["dataset", "method", "knob_name", "domain"],
                  ["accuracy", "loss", "exact_loss", "compute_power", "storage_power"])
    rows = []
    for (ds, m), g in c.groupby(["dataset", "method"]):
        ex = g[g["domain"] == "exact"]
        if ex.empty:
            continue
        exact_acc = float(ex["accuracy"].mean())
        if constraint == "accuracy":  # points lost against the method's own exact accuracy
            lost = (exact_acc - g["accuracy"]) * 100
        else:  # each network's output error relative to its own on exact hardware
            lost = 100 * (g["loss"] / g["exact_loss"].fillna(float(ex["loss"].mean())) - 1)
        for domain, col in POWER_COLUMN.items():
            if m == "approxann" and domain == "storage":
                continue
            cand = (g["domain"] == "exact") | (g["domain"] == domain)
            for ml in losses:
                ok = g[cand & (lost <= ml + 1e-9)]
                if ok.empty:  # (the exact knob itself loses nothing)
                    continue
                best = ok.sort_values([col, "accuracy"], ascending=[True, False]).iloc[0]
                rows.append({"dataset": ds, "method": m, "domain": domain, "max_loss": ml,
                             "constraint": constraint,
                             "knob": best["knob_name"], "power": best[col],
                             "accuracy": best["accuracy"], "exact_accuracy": exact_acc,
                             "n_seeds": best["n_seeds"]})
    return rows
