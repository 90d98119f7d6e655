"""`axtrain synth`: each multiplier of a knob set as a synthesised circuit, its gates,
transistors, relative area and relative switching power, beside its proxy power.

    axtrain synth                          # the paper's knobs (conf/knobs/paper.yaml)
    axtrain synth knobs=drum_k --out drum.csv
    axtrain synth hardware=fixed8 '+knobs.mine={multiplier: {name: verilog, file: m.v}}'

The arguments are `axtrain train`'s overrides (the knob set, the word width); one row per
distinct multiplier, naming the knobs that use it. Synthesis is cached (hardware/synth.py).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

COLUMNS = ["knobs", "multiplier", "bits", "gates", "transistors", "area", "switching",
           "proxy", "tool"]


def rows(cfg) -> list[dict]:
    """One row per distinct multiplier of cfg.knobs (ValueError: one line)."""
    from . import knobs as kn

    bits = cfg.hardware.bits
    seen: dict[str, dict] = {}
    for name, spec in cfg.knobs.items():
        knob = kn.build(name, spec, bits)
        label = knob.multiplier.label
        if label in seen:
            seen[label]["knobs"] += f" {name}"
            continue
        circuit = knob.multiplier.circuit(bits)
        row = {"knobs": name, "multiplier": label, "bits": bits,
               "proxy": round(knob.multiplier.power(), 4)}
        if circuit is None:
            row.update(gates="", transistors="", area="", switching="", tool="(no circuit)")
        else:
            from .hardware import synth

            c = synth.relative_cost(circuit, bits)
            row.update(gates=c["gates"], transistors=c["transistors"],
                       area=round(c["area"], 4), switching=round(c["switching"], 4),
                       tool=c["tool"])
        seen[label] = row
    return list(seen.values())


def main(argv: list[str]) -> None:
    from .cli import _compose_error, compose, fail
    from .config import ConfigError

    out = Path("synth.csv")
    overrides = []
    args = iter(argv)
    for a in args:
        if a in ("-h", "--help"):
            print(__doc__.split("\n\n", 1)[1], end="")
            return
        if a == "--out" or a.startswith("--out="):
            value = a.split("=", 1)[1] if "=" in a else next(args, None)
            if not value:
                fail("--out needs a file name (the CSV written)")
            out = Path(value)
        elif a.startswith("-") or "=" not in a:
            fail(f"{a!r} is not an override: allowed key=value (knobs=..., hardware=...) and "
                 "--out FILE")
        else:
            overrides.append(a)
    if out.is_dir():
        fail(f"--out {out} is a folder: allowed a CSV file name")
    try:
        cfg = compose(overrides)
    except Exception as e:  # an unknown key or option: one line with the allowed ones
        fail(_compose_error(e, overrides))
    started = time.perf_counter()
    try:
        table = rows(cfg)
    except (ConfigError, ValueError) as e:
        fail(str(e))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(table)
    out.with_suffix(".tmp").replace(out)
    _print(table, sys.stdout)
    print(f"{len(table)} multipliers in {time.perf_counter() - started:.1f} s "
          f"(area: transistors, switching: fan-out-weighted toggles on uniform operands, both "
          f"relative to the exact {cfg.hardware.bits}-bit multiplier); written to {out}")


def _print(table: list[dict], stream) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(*COLUMNS)
    for r in table:
        t.add_row(*(str(r[c]) for c in COLUMNS))
    Console(file=stream, width=160).print(t)
