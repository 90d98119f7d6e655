"""axtrain against the figures the EvoApprox library publishes for its 8-bit multipliers.

    python scripts/evoapprox_check.py PATH/TO/evoapproxlib [--out evo.csv]

PATH is a checkout of https://github.com/ehw-fit/evoapproxlib (nothing of it ships with
axtrain). Every 8 x 8-bit design (`multiplers/8x8_signed` and `8x8_unsigned`, the Verilog
files, not the `_pdk45` netlists) is loaded the way a knob loads it (`name: verilog`),
synthesised with Yosys + ABC, and compared with the figures in its file's header:

- error: MAE%, WCE%, EP%, MRE% from axtrain's table of the design (its netlist evaluated
  on all 65,536 pairs of its own operands: -128..127 signed, 0..255 unsigned), against
  the published ones (equal at the precision the header prints them to);
- cost: axtrain's area (transistors) and switching (fan-out-weighted toggles on uniform
  operands), each relative to the library's exact design of the same signedness (its
  design with MAE 0, as `hardware.cost_reference`) and to Yosys's `a * b` (axtrain's
  default reference), against the published PDK45 area and power relative to that same
  exact design. Printed: Spearman's rank correlation and the median ratio of ours to the
  published relative figure.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from axtrain_cli.hardware import MULTIPLIERS, synth

FIGURES = {"MAE%": "mae", "WCE%": "wce", "EP%": "ep", "MRE%": "mre", "PDK45_PWR": "pwr",
           "PDK45_AREA": "area"}


def published(path: Path) -> dict:
    """The figures in a design file's header comments (`// MAE% = 0.051 %`), with the
    decimals each is given to (`<name>_digits`)."""
    out = {}
    for line in path.read_text(errors="replace").splitlines()[:40]:
        m = re.match(r"//\s*([\w%]+)\s*=\s*([-+0-9.eE]+)", line)
        if m and m.group(1) in FIGURES:
            out[FIGURES[m.group(1)]] = float(m.group(2))
            out[FIGURES[m.group(1)] + "_digits"] = len(m.group(2).partition(".")[2])
    return out


def error_figures(netlist, signed: bool) -> dict:
    """MAE%, WCE%, EP%, MRE% over every pair of the design's own 8-bit operands, as
    EvoApprox defines them (MAE and WCE relative to 2^16)."""
    a, b = (v.reshape(-1) for v in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    got = netlist.evaluate(a, b).astype(np.int64)
    x, y = (np.where(v > 127, v - 256, v) if signed else v for v in (a, b))
    exact = x * y
    err = np.abs(got - exact)
    nz = exact != 0
    return {"mae": err.mean() / 2**16 * 100, "wce": err.max() / 2**16 * 100,
            "ep": (err != 0).mean() * 100, "mre": (err[nz] / np.abs(exact[nz])).mean() * 100}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", type=Path, help="a checkout of ehw-fit/evoapproxlib")
    p.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    args = p.parse_args()
    files = {}
    for folder, signed in (("8x8_signed", True), ("8x8_unsigned", False)):
        for f in sorted((args.path / "multiplers" / folder).rglob("mul8*.v")):
            if not f.stem.endswith("_pdk45"):
                files.setdefault(f.stem, (f, signed))  # a design sits in several pareto sets
    if not files:
        sys.exit(f"no 8x8 designs under {args.path}/multiplers: allowed a checkout of "
                 "https://github.com/ehw-fit/evoapproxlib")
    rows = []
    for name, (f, signed) in sorted(files.items()):
        model = MULTIPLIERS.build({"name": "verilog", "file": str(f), "signed": signed}, 8)
        rows.append({"design": name, "signed": signed, "file": f, "model": model,
                     **{f"pub_{k}": v for k, v in published(f).items()},
                     **error_figures(model.netlist, signed)})
    for signed in (True, False):
        group = [r for r in rows if r["signed"] == signed]
        exact = [r for r in group if r.get("pub_mae") == 0 and r["mae"] == 0]
        if not exact:
            continue
        ref = exact[0]
        for r in group:
            ours = synth.relative_cost(r["model"].design, 8, ref["model"].design)
            default = synth.relative_cost(r["model"].design, 8)
            r.update(exact_design=ref["design"], area_vs_exact=ours["area"],
                     switching_vs_exact=ours["switching"], area_vs_yosys=default["area"],
                     pub_area_rel=r["pub_area"] / ref["pub_area"],
                     pub_pwr_rel=r["pub_pwr"] / ref["pub_pwr"])
    columns = ["design", "signed", "mae", "pub_mae", "wce", "pub_wce", "ep", "pub_ep", "mre",
               "pub_mre", "area_vs_exact", "area_vs_yosys", "pub_area_rel",
               "switching_vs_exact", "pub_pwr_rel"]
    print(" ".join(f"{c:>12}" for c in columns))
    for r in rows:
        print(" ".join(f"{_fmt(r.get(c)):>12}" for c in columns))
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, columns + ["exact_design", "file"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    costed = [r for r in rows if "pub_area_rel" in r]
    print(f"\n{len(rows)} designs ({sum(r['signed'] for r in rows)} signed), "
          f"{len(costed)} costed against their library's exact design; Yosys "
          f"{synth.tool()[1].removeprefix('Yosys ')}")
    for ours, pub in (("mae", "pub_mae"), ("wce", "pub_wce"), ("ep", "pub_ep"),
                      ("mre", "pub_mre")):
        given = [r for r in rows if pub in r]  # rounded as the header rounds it
        other = [r for r in given if abs(round(r[ours], r[pub + "_digits"]) - r[pub])
                 > 0.51 * 10.0 ** -r[pub + "_digits"]]
        print(f"error {ours.upper()}%: {len(given) - len(other)} of {len(given)} designs "
              "equal to the published figure at its printed precision"
              + "".join(f"; {r['design']} {r[ours]:.4g} against {r[pub]:g}" for r in other))
    for ours, pub, what in (("area_vs_exact", "pub_area_rel", "area vs published area"),
                            ("area_vs_yosys", "pub_area_rel", "area (Yosys a*b reference) "
                                                              "vs published area"),
                            ("switching_vs_exact", "pub_pwr_rel", "switching vs published "
                                                                  "power")):
        x = np.array([r[ours] for r in costed])
        y = np.array([r[pub] for r in costed])
        rho = stats.spearmanr(x, y).statistic
        ratio = x[y > 0] / y[y > 0]  # (a design of no gates costs 0 in both)
        q1, median, q3 = np.percentile(ratio, [25, 50, 75])
        print(f"{what}: Spearman {rho:.3f}; ours / published median {median:.3f} "
              f"[quartiles {q1:.3f}, {q3:.3f}]")


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return "" if v is None else str(v)


if __name__ == "__main__":
    main()
