"""`axtrain report DIR [DIR ...] [--out OUT]`: the paper's figure tables (and plots) from
run dirs (report.build_report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import NoResults, RecostError
from ..report import build_report


def main(argv: list[str] | None = None) -> int:
    """`axtrain report` (argv: the arguments after `report`). Returns 0; exits 2 (SystemExit)
    on a usage error or when no compatible results.csv is found."""
    p = argparse.ArgumentParser(prog="axtrain report",
                                description="Build the AxTrain paper's figure tables from "
                                            "run/multirun directories.")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="run or multirun directories (searched for results.csv at any depth)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DIR/report)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--power-model", choices=["proxy", "area", "switching"], default=None,
                   help="re-cost compute power under this hardware.power_model (default: "
                        "as the runs measured it; area and switching need the synth extra)")
    p.add_argument("--max-loss", type=float, default=2.0,
                   help="allowed accuracy loss in points for fig9 (default 2.0)")
    p.add_argument("--relaxed-loss", type=float, default=6.0,
                   help="second, relaxed allowed loss for fig9 (default 6.0, paper's Satimage)")
    a = p.parse_args(argv)
    out = a.out or a.dirs[0] / "report"

    def fail(msg: str):
        print(f"axtrain report: error: {msg}", file=sys.stderr)
        raise SystemExit(2)  # raised, not returned: cli.main ignores the value

    for opt, v in (("--max-loss", a.max_loss), ("--relaxed-loss", a.relaxed_loss)):
        if not 0 <= v < 100:
            fail(f"{opt} {v}: allowed accuracy points in [0, 100)")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file: allowed a folder (made if missing)")
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"--out {out}: cannot make the folder ({e.strerror})")
    try:
        r = build_report(a.dirs, out, plots=not a.no_plots, max_loss=a.max_loss,
                         relaxed_loss=a.relaxed_loss, power_model=a.power_model)
    except (NoResults, RecostError) as e:
        if made and not any(out.iterdir()):  # leave nothing behind but the message
            out.rmdir()
        fail(str(e))
    print(f"report: {r['runs']} runs -> {out}")
    for path in r["written"]:
        print(f"  wrote {path.name}")
    for name, why in r["skipped"].items():
        print(f"  not built {name}: {why}")
    for path in r["removed"]:
        print(f"  removed {path.name} (an earlier report's, not built this time)")
    return 0
