"""Helpers of the figure tables: seed means, average rows, ordering, lookups."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

METHOD_ORDER = ["bp", "act", "pas", "axtrain", "approxann", "axnn"]
LEVELS = ["aggressive", "conservative"]  # the dataset's NTV levels (Fig. 7)
FIG = {k: f"{k}.csv" for k in ("fig4_sensitivity", "fig6_multiplier_error",
                               "fig7_ntv_accuracy", "fig8_approxann_multipliers",
                               "fig9_power", "claims", "runs_summary")}


class Missing(Exception):
    """A table cannot be built: the message names what is missing."""


# A run cell's label: what the tables name it by. Rows of one label must also share their
# identity (load.IDENTITY, the `cell` column) to be averaged over seeds.
LABEL = ["dataset", "method", "init", "constraint", "train_knob", "knob"]


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """df with LABEL's columns: init and constraint are ApproxANN's (empty for the rest)."""
    ax = df["method"] == "approxann"
    d = with_reading(df).assign(init=df["init"].where(ax, ""))
    d["constraint"] = d["constraint"].where(ax, "")
    return d


def differing(df: pd.DataFrame) -> dict[str, list[str]]:
    """{column: its values} of the identity columns and config settings that differ between
    cells sharing a label (e.g. K1 measured as drum(k=2) in some runs and drum(k=6) in
    others); {} when every label has one cell."""
    from ..results.identity import settings
    from .load import IDENTITY, read_config

    d = labelled(df)
    n = d.groupby(LABEL, dropna=False)["cell"].transform("nunique")
    mixed = d[n > 1]
    if mixed.empty:
        return {}
    out = {c: sorted(map(str, mixed[c].unique())) for c in IDENTITY if c != "setting"
           if (mixed.groupby(LABEL, dropna=False)[c].nunique(dropna=False) > 1).any()}
    configs = {r: settings(read_config(r)) for r in mixed["run_dir"].unique()}
    for _, group in mixed.groupby(LABEL, dropna=False):
        runs = [configs[r] for r in group["run_dir"].unique()]
        for key in sorted(set().union(*runs)):
            values = {str(c.get(key)) for c in runs}
            if len(values) > 1:
                out.setdefault(key, sorted(values))
    return out


def not_comparable(df: pd.DataFrame) -> str:
    """Why the figure tables cannot be built from these runs ('' when they can): cells
    sharing a label differ, or the methods compared on a dataset ran other networks,
    words or schedules, or one knob name meant two settings."""
    diff = differing(df)
    if diff:
        return "cells with the same label differ in " + "; ".join(
            f"{k}: {' | '.join(v)}" for k, v in diff.items())
    for ds, d in df.groupby("dataset"):
        for col in ("topology", "arch", "bits", "weight_format", "epochs"):
            values = d[col].dropna().astype(str).unique()
            if len(values) > 1:
                return f"{ds}'s methods differ in {col}: {' | '.join(sorted(values))}"
        for knob, k in d.groupby("knob"):
            defs = (k["multiplier"] + " " + k["memory"]).unique()
            if len(defs) > 1:
                return f"{knob} of {ds} means {' | '.join(sorted(defs))}"
    return ""


def in_domain(df: pd.DataFrame, domain: str) -> pd.Series:
    """Rows whose knob acts in `domain` (compute or storage; compute+storage counts for both)."""
    return df["domain"].str.split("+").map(lambda parts: domain in parts).astype(bool)


def with_reading(a: pd.DataFrame) -> pd.DataFrame:
    """ApproxANN rows with `constraint`: the reading of "2 %" the run was trained under
    (its method.constraint, results column constraint_reading; older runs: accuracy)."""
    reading = "constraint_reading"
    return a.assign(constraint=a[reading].fillna("accuracy") if reading in a.columns
                    else "accuracy")


def seed_mean(d: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    """Mean per seed (over draws and repeated runs), then mean over seeds; + n_seeds."""
    per_seed = d.groupby(keys + ["seed"], dropna=False)[cols].mean().reset_index()
    out = per_seed.groupby(keys, dropna=False)[cols].mean()
    out["n_seeds"] = per_seed.groupby(keys, dropna=False).size()
    return out.reset_index()


def with_average(t: pd.DataFrame, by: list[str], cols: list[str]) -> pd.DataFrame:
    """Append rows dataset="average": the mean over datasets of `cols` per `by` group."""
    avg = t.groupby(by, sort=False)[cols].mean().reset_index()
    avg["dataset"] = "average"
    return pd.concat([t, avg], ignore_index=True)[t.columns]


def order(t: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    key = {"method": lambda s: s.map({m: i for i, m in enumerate(METHOD_ORDER)}),
           "dataset": lambda s: s.map(lambda v: f"1{v}" if v == "average" else f"0{v}")}
    return t.sort_values(by, key=lambda s: key.get(s.name, lambda x: x)(s),
                         kind="stable").reset_index(drop=True)


def need(df: pd.DataFrame, methods: list[str], what: str) -> None:
    for m in methods:
        if not (df["method"] == m).any():
            raise Missing(f"no {m} runs{what} (needs method={m})")


def vs(t: pd.DataFrame, keys: list[str], col: str, method: str) -> np.ndarray:
    """Column `col` of `method`'s row with the same `keys`, aligned to t's rows."""
    ref = t[t["method"] == method].drop_duplicates(keys).set_index(keys)[col]
    return ref.reindex(pd.MultiIndex.from_frame(t[keys])).to_numpy(dtype=float)


def ci95(values: pd.Series) -> float:
    """Half-width of the 95 % t-interval of the mean of `values` (NaNs skipped; NaN for
    fewer than two values; 0 exactly for equal values, whose float std may not be 0)."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return np.nan
    if np.ptp(v) == 0:
        return 0.0
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def over_seeds(build: Callable[[pd.DataFrame], pd.DataFrame], df: pd.DataFrame,
               keys: list[str], ci: list[str], pooled: tuple[str, ...] = ()) -> pd.DataFrame:
    """A figure table over seeds: `build` on each seed's runs alone (so every comparison
    between methods pairs networks of the same seed), then per row (`keys`) the mean over
    seeds of each numeric column, `<col>_ci95` (the half-width of the 95 % t-interval across
    seeds) after each column of `ci`, the distinct values of text columns joined by "|",
    n_seeds (the seeds behind the row) and the sum of other n_* counts. `pooled` columns
    come from `build` on all seeds at once instead (e.g. a std over every draw). With one
    seed the table is build(df) plus empty intervals. Raises Missing when no seed builds."""
    parts, missing = [], None
    for _, d in df.groupby("seed", sort=True):
        try:
            parts.append(build(d))
        except Missing as e:
            missing = e
    if not parts:
        raise missing or Missing("no runs")
    columns = list(parts[0].columns)
    stacked = pd.concat(parts, ignore_index=True)
    groups = stacked.groupby(keys, sort=False, dropna=False)
    out = groups.size().rename("n_seeds").to_frame()
    for c in columns:
        if c in keys or c == "n_seeds":
            continue
        if c.startswith("n_"):
            out[c] = groups[c].sum()
        elif pd.api.types.is_numeric_dtype(stacked[c]):
            out[c] = groups[c].mean()
        else:
            out[c] = groups[c].agg(lambda v: "|".join(dict.fromkeys(str(x) for x in v
                                                                     if pd.notna(x) and x != "")))
        if c in ci:
            out[f"{c}_ci95"] = groups[c].agg(ci95)
    out = out.reset_index()
    if pooled:
        full = build(df)[keys + list(pooled)]
        out = out.drop(columns=list(pooled)).merge(full, on=keys, how="left")
    order_ = [c for col in columns for c in (col, f"{col}_ci95") if c in out.columns]
    return out[order_ + (["n_seeds"] if "n_seeds" not in order_ else [])]
