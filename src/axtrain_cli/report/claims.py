"""claims.csv: the paper's headline numbers (data: paper_claims.yaml) next to ours, with the
95 % interval across seeds and two verdicts.

Every claim is a difference in the paper's direction (a reduction, a gain, an increase:
positive means the paper's effect), computed per seed from networks of that seed (paired)
and then averaged. `verdict` (the sign): "agrees" when the interval lies above zero,
"disagrees" when it lies below, "inconclusive" when it contains zero or there is one seed
(no interval). `ratio_to_paper` (ours / the paper's number, with `ratio_ci95_low/high`, the
interval divided by it) and `magnitude` (the size): "within 2x" when the ratio's interval
lies inside [0.5, 2], "smaller" when it lies below 0.5, "larger" when above 2,
"inconclusive" when it straddles a bound or there is no interval. A claim with no value
says why in `note`: "not measured" (its table, or the row of its knob and method, is not
there) or "undefined" (the row is there, the number is not defined for these runs, e.g. an
excess-error reduction where BP has no excess error).
"""

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


def has_row(t: pd.DataFrame | None, where: dict) -> bool:
    if t is None:
        return False
    m = np.ones(len(t), dtype=bool)
    for k, v in where.items():
        if k not in t.columns:
            return False
        m &= (t[k] == v).to_numpy()
    return bool(m.any())


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
        half, n = pick(table, c["column"] + "_ci95", w), pick(table, "n_seeds", w)
        fields = {**params, **w, **values}
        if table is None:
            sign, note = "not measured", f"not measured: {c['table']}.csv was not built"
        elif missing := next((r for r in [w, *({**w, **where(n)} for n in c.get("needs", []))]
                              if not has_row(table, r)), None):
            sign = "not measured"
            note = f"not measured: {c['table']}.csv has no row with " + ", ".join(
                f"{k}={v}" for k, v in missing.items())
        elif np.isnan(ours):
            sign = "undefined"
            note = "undefined: " + c.get("undefined", "the runs define no value here").format(
                **fields)
        else:
            sign, note = verdict(ours, half), c["note"].format(**fields)
        paper = float(c["paper"])
        ratio, lo, hi = (ours / paper, (ours - half) / paper, (ours + half) / paper) \
            if paper > 0 else (np.nan, np.nan, np.nan)
        rows.append({"claim": c["claim"].format(**params), "figure": c["figure"],
                     "paper_value": c["paper"], "ours": ours, "ci95_low": ours - half,
                     "ci95_high": ours + half, "n_seeds": n, "direction": c["direction"],
                     "verdict": sign, "ratio_to_paper": ratio, "ratio_ci95_low": lo,
                     "ratio_ci95_high": hi, "magnitude": magnitude(lo, hi, ours),
                     "note": note})
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


def magnitude(lo: float, hi: float, ours: float) -> str:
    """within 2x / smaller / larger / inconclusive by the ratio's interval [lo, hi] (see
    the module); '' where there is no value."""
    if np.isnan(ours):
        return ""
    if np.isnan(lo) or np.isnan(hi):
        return "inconclusive"
    if hi < 0.5:
        return "smaller"
    if lo > 2:
        return "larger"
    return "within 2x" if 0.5 <= lo and hi <= 2 else "inconclusive"
