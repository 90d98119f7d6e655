"""claims.csv: the paper's headline numbers (data: paper_claims.yaml) next to ours, with the
95 % interval across seeds and a verdict.

Every claim is a difference in the paper's direction (a reduction, a gain, an increase:
positive means the paper's effect), computed per seed from networks of that seed (paired)
and then averaged. verdict: "agrees" when the interval lies above zero, "disagrees" when
it lies below, "inconclusive" when it contains zero or there is one seed (no interval)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import yaml

from .common import FIG


def paper_claims() -> list[dict]:
    return yaml.safe_load((files(__package__) / "paper_claims.yaml").read_text())


def pick(t: pd.DataFrame | None, col: str, where: dict):
    """The value of `col` in the first row of t matching `where` (NaN if none)."""
    if t is None or col not in t.columns:
        return np.nan
    m = np.ones(len(t), dtype=bool)
    for k, v in where.items():
        m &= (t[k] == v).to_numpy()
    vals = t.loc[m, col].dropna()
    if not len(vals):
        return np.nan
    v = vals.iloc[0]
    return float(v) if isinstance(v, (int, float, np.number)) else v


def claims(tables: dict, max_loss: float, relaxed_loss: float) -> pd.DataFrame:
    params = {"max_loss": max_loss, "relaxed_loss": relaxed_loss}

    def where(spec: dict) -> dict:
        return {k: params[v[1:]] if isinstance(v, str) and v.startswith("$") else v
                for k, v in spec.items()}

    rows = []
    for c in paper_claims():
        table, w = tables.get(FIG[c["table"]]), where(c["where"])
        ours = pick(table, c["column"], w)
        values = {name: pick(table, v["column"], {**w, **where(v.get("where", {}))})
                  for name, v in c.get("values", {}).items()}
        note = (f"{c['figure']} table not built" if table is None
                else c["note"].format(**params, **values))
        half, n = pick(table, c["column"] + "_ci95", w), pick(table, "n_seeds", w)
        rows.append({"claim": c["claim"].format(**params), "figure": c["figure"],
                     "paper_value": c["paper"], "ours": ours, "ci95_low": ours - half,
                     "ci95_high": ours + half, "n_seeds": n, "direction": c["direction"],
                     "verdict": verdict(ours, half), "note": note})
    return pd.DataFrame(rows)


def verdict(ours: float, half: float) -> str:
    """agrees / disagrees / inconclusive by the interval ours +- half (see the module)."""
    if np.isnan(ours):
        return "not measured"
    if np.isnan(half):
        return "inconclusive"
    if ours - half > 0:
        return "agrees"
    return "disagrees" if ours + half < 0 else "inconclusive"
