"""Helpers of the figure tables: seed means, average rows, ordering, lookups."""

from __future__ import annotations

import numpy as np
import pandas as pd

METHOD_ORDER = ["bp", "act", "pas", "axtrain", "approxann", "axnn"]
LEVELS = ["aggressive", "conservative"]  # the dataset's NTV levels (Fig. 7)
FIG = {k: f"{k}.csv" for k in ("fig4_sensitivity", "fig6_multiplier_error",
                               "fig7_ntv_accuracy", "fig8_approxann_multipliers",
                               "fig9_power", "claims", "runs_summary")}


class Missing(Exception):
    """A table cannot be built: the message names what is missing."""


def in_domain(df: pd.DataFrame, domain: str) -> pd.Series:
    """Rows whose knob acts in `domain` (compute or storage; compute+storage counts for both)."""
    return df["domain"].str.split("+").map(lambda parts: domain in parts).astype(bool)


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
