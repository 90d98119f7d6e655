"""The AxTrain paper's figure tables (and plots) from run dirs (`axtrain report`). Cells
shared by several runs (seeds) are averaged: per seed first (over reads of a stochastic
memory and repeated runs), then over seeds. Tables fig6..fig9 have `average`
rows (dataset = "average"): the plain mean over datasets of each value column,
percentages included (NaNs skipped), which is what claims.csv compares with the paper's
"on average"."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..results import write_csv
from .claims import claims
from .common import FIG, Missing, not_comparable
from .load import load_runs, recost, run_power_models
from .power import fig8, fig9
from .tables import fig4, fig6, fig7, runs_summary


def build_report(inputs: list[Path], out_dir: Path, plots: bool = True, max_loss: float = 2.0,
                 relaxed_loss: float = 6.0, power_model: str | None = None) -> dict:
    """Write the figure tables (and plots) for the runs under `inputs` into `out_dir`.

    power_model: compute power re-costed under this hardware.power_model (None: as the runs
    measured it). Returns {"out_dir", "written": [paths], "skipped": {table: reason},
    "warnings": [...]}. Raises NoResults when no compatible results.csv is found,
    RecostError when a multiplier cannot be re-costed (errors)."""
    warnings: list[str] = []

    def warn(msg: str) -> None:
        if msg in warnings:  # a table built per seed says it once
            return
        warnings.append(msg)
        print(f"axtrain report: warning: {msg}", file=sys.stderr)

    df = load_runs([Path(p) for p in inputs], warn)
    df = recost(df, power_model) if power_model else df.assign(power_model=run_power_models(df))
    out_dir = Path(out_dir)
    builders = {"fig4_sensitivity": lambda: fig4(df, warn), "fig6_multiplier_error":
                lambda: fig6(df), "fig7_ntv_accuracy": lambda: fig7(df),
                "fig8_approxann_multipliers": lambda: fig8(df),
                "fig9_power": lambda: fig9(df, sorted({max_loss, relaxed_loss}), warn)}
    tables, skipped, written = {}, {}, []
    # The figures compare methods cell by cell: only runs that measured the same things.
    why = not_comparable(df)
    if why:
        warn(f"figure tables and {FIG['claims']} not built: {why}; report each setting on "
             f"its own (e.g. one directory each); {FIG['runs_summary']} keeps them apart")
    for key, build in builders.items():
        try:
            if why:
                raise Missing(f"the runs are not comparable ({why})")
            tables[FIG[key]] = build()
        except Missing as e:
            skipped[FIG[key]] = str(e)
            if not why:
                warn(f"{FIG[key]}: {e}")
    tables[FIG["runs_summary"]] = runs_summary(df, warn)
    if len(tables) > 1:  # runs_summary is always there; claims need a figure table
        tables[FIG["claims"]] = claims(tables, max_loss, relaxed_loss)
    else:
        skipped[FIG["claims"]] = ("the runs are not comparable" if why
                                  else "no figure table could be built")
        if not why:
            warn(f"{FIG['claims']}: no figure table could be built")
    if FIG["fig9_power"] in tables:  # what the compute power column was measured by
        t = tables[FIG["fig9_power"]]
        models = "|".join(sorted(set(df["power_model"])))
        t["power_model"] = np.where(t["domain"] == "compute", models, "voltage^2")
    for name, t in tables.items():
        write_csv(out_dir / name, t)
        written.append(out_dir / name)
    if plots and tables:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            warn("matplotlib is not installed: plots skipped (pip install matplotlib)")
        else:
            from .plots import plot_all

            try:
                written += plot_all(tables, out_dir, max_loss)
            except Exception as e:  # a plot must never cost the tables
                warn(f"plots skipped: {type(e).__name__}: {' '.join(str(e).split())}")
    removed = replace_set(out_dir, written)
    return {"out_dir": out_dir, "written": written, "skipped": skipped, "warnings": warnings,
            "removed": removed, "runs": int(df["run_dir"].nunique())}


REPORT_MANIFEST = "report.json"


def replace_set(out_dir: Path, written: list[Path]) -> list[Path]:
    """Make `written` the report in out_dir: remove what an earlier report there wrote and
    this one did not (listed in its report.json; a folder without one: the names a report
    writes, fig*.csv, fig*.png, claims.csv, runs_summary.csv), then list this report's
    files in report.json. Returns the removed paths. Other files are never touched."""
    import json

    from ..results import atomic_write_text

    manifest = out_dir / REPORT_MANIFEST
    try:
        earlier = [out_dir / n for n in json.loads(manifest.read_text())["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = [p for p in out_dir.glob("*") if p.name in FIG.values()
                   or (p.name.startswith("fig") and p.suffix in (".csv", ".png"))]
    mine = {p.name for p in written}
    removed = [p for p in earlier if p.name not in mine and p.is_file()]
    for p in removed:
        p.unlink()
    atomic_write_text(manifest, json.dumps({"files": sorted(mine)}, indent=1) + "\n")
    return removed
