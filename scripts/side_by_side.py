"""Two or more reports side by side, as the markdown tables of docs/reproduction.md:
Fig. 7 (BP and AxTrain at the NTV levels, AxTrain's gain) and Fig. 9's storage power at
<= 2 accuracy points, for e.g. the two weight-word readings (issue 15):

    python scripts/side_by_side.py fraction=docs/reference/paper dynamic=reproduce/dynamic/report

Each argument is LABEL=DIR, DIR holding `axtrain report`'s fig7_ntv_accuracy.csv and
fig9_power.csv. `--claims fig6,fig8,fig9` prints claims.csv's rows of those figures
instead (e.g. DRUM against another multiplier family). Numbers are means over seeds
with the half-width of their 95 % interval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def md(t: pd.DataFrame, first: str) -> str:
    """A markdown table (pandas' to_markdown needs tabulate, not a dependency here)."""
    lines = [f"| {first} | " + " | ".join(t.columns) + " |",
             "|---" * (len(t.columns) + first.count("|") + 1) + "|"]
    lines += [f"| {i} | " + " | ".join("" if pd.isna(v) else str(v) for v in r) + " |"
              for i, r in zip(t.index, t.itertuples(index=False))]
    return "\n".join(lines)


def pm(value: float, ci: float, scale: float = 1.0, digits: int = 1) -> str:
    ci = "" if pd.isna(ci) else f" ± {scale * ci:.{digits}f}"
    return f"{scale * value:.{digits}f}{ci}"


def fig7(reports: dict[str, Path]) -> str:
    rows = {}
    for label, d in reports.items():
        t = pd.read_csv(d / "fig7_ntv_accuracy.csv")
        for (ds, level), g in t.groupby(["dataset", "knob"], sort=False):
            by = g.set_index("method")
            cell = rows.setdefault((ds, level), {})
            for m in ("bp", "axtrain"):
                if m in by.index:
                    cell[f"{m}, {label}"] = pm(by.loc[m, "accuracy_mean"],
                                               by.loc[m, "accuracy_mean_ci95"], 100)
            if "axtrain" in by.index:
                cell[f"gain, {label}"] = pm(by.loc["axtrain", "gain_points"],
                                            by.loc["axtrain", "gain_points_ci95"])
    t = pd.DataFrame.from_dict(rows, orient="index")
    t.index = [f"{ds} | {level}" for ds, level in t.index]
    return md(t, "application | level")


def fig9_storage(reports: dict[str, Path], max_loss: float = 2,
                 constraint: str = "accuracy") -> str:
    rows = {}
    for label, d in reports.items():
        t = pd.read_csv(d / "fig9_power.csv")
        t = t[(t["domain"] == "storage") & (t["max_loss"] == max_loss)
              & (t["constraint"] == constraint) & t["method"].isin(["bp", "axtrain"])]
        for _, r in t.iterrows():
            cell = rows.setdefault(r["dataset"], {})
            cell[f"{r['method']}, {label}"] = (f"{r['knob']} {r['power']:.3f}"
                                               if isinstance(r["knob"], str) else
                                               pm(r["power"], r["power_ci95"], digits=3))
            if r["method"] == "axtrain":
                cell[f"reduction %, {label}"] = pm(r["reduction_vs_bp_pct"],
                                                   r["reduction_vs_bp_pct_ci95"])
    return md(pd.DataFrame.from_dict(rows, orient="index"), "application")


def claims(reports: dict[str, Path], figures: tuple[str, ...]) -> str:
    """claims.csv of each report: ours [95 % interval] and the verdict, for `figures`."""
    rows = {}
    for label, d in reports.items():
        t = pd.read_csv(d / "claims.csv")
        for _, r in t[t["figure"].isin(figures)].iterrows():
            cell = rows.setdefault(r["claim"], {"paper": f"{r['paper_value']:g}"})
            cell[label] = ("not measured" if pd.isna(r["ours"]) else
                           f"{r['ours']:.1f} [{r['ci95_low']:.1f}, {r['ci95_high']:.1f}] "
                           f"{r['verdict']}")
    return md(pd.DataFrame.from_dict(rows, orient="index"), "claim")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", help="LABEL=DIR")
    p.add_argument("--claims", default=None,
                   help="only claims.csv's rows of these figures (e.g. fig6,fig8,fig9)")
    a = p.parse_args()
    reports = {}
    for arg in a.reports:
        label, sep, d = arg.partition("=")
        if not sep or not (Path(d) / "claims.csv").is_file():
            p.error(f"{arg!r}: expected LABEL=DIR with DIR holding axtrain report's tables")
        reports[label] = Path(d)
    if a.claims:
        print(claims(reports, tuple(a.claims.split(","))))
        return
    print("Fig. 7: accuracy over the NTV draws (%), AxTrain's gain over BP (points)\n")
    print(fig7(reports))
    print("\nFig. 9: storage power within 2 accuracy points (knob and relative power)\n")
    print(fig9_storage(reports))


if __name__ == "__main__":
    main()
