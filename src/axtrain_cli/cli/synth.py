"""`axtrain synth`: each multiplier of a knob set as a synthesised circuit, its gates,
transistors, relative area and relative switching power, beside its proxy power.

    axtrain synth                          # the paper's knobs (conf/knobs/paper.yaml)
    axtrain synth knobs=drum_k --out drum.csv
    axtrain synth hardware=fixed8 '+knobs.mine={multiplier: {name: verilog, file: m.v}}'

The arguments are `axtrain train`'s overrides (the knob set, the word width); one row per
distinct multiplier, naming the knobs that use it. Synthesis is cached (hardware/synth.py).
`run=DIR` (a bp or act run's dir or its model.pt) adds `switching_network`: the switching
on the network's own operands (evaluation.cost.network_streams).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from .. import knobs as kn
from ..errors import ConfigError
from ..evaluation.cost import COLUMNS, IMAGES, PAIRS, network_streams, rows
from .compose import compose, to_settings
from .messages import compose_error, fail


def main(argv: list[str]) -> None:
    from .eval import eval_overrides

    out, run = Path("synth.csv"), None
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
        elif a.startswith("run="):
            run = a.split("=", 1)[1]
            file = Path(run) / "model.pt" if Path(run).is_dir() else Path(run)
            if not file.is_file():
                fail(f"run={run!r}: no model.pt there: allowed a bp or act run's dir or its "
                     "model.pt")
        elif a.startswith("-") or "=" not in a:
            fail(f"{a!r} is not an override: allowed key=value (knobs=..., hardware=...) and "
                 "--out FILE")
        else:
            overrides.append(a)
    if out.is_dir():
        fail(f"--out {out} is a folder: allowed a CSV file name")
    try:
        cfg = to_settings(compose(overrides), overrides)
    except ConfigError as e:
        fail(str(e))
    except Exception as e:  # an unknown key or option: one line with the allowed ones
        fail(compose_error(e, overrides))
    started = time.perf_counter()
    streams = None
    if run is not None:
        file = Path(run) / "model.pt" if Path(run).is_dir() else Path(run)
        run_overrides = eval_overrides([str(file)])
        run_cfg = to_settings(compose(run_overrides), run_overrides)
        streams = network_streams(run_cfg, file)
        if run_cfg.hardware.bits != cfg.hardware.bits:
            fail(f"run={run!r} has {run_cfg.hardware.bits}-bit words, the knobs "
                 f"{cfg.hardware.bits}-bit: allowed a run of the knobs' word width (add "
                 f"hardware={'fixed8' if run_cfg.hardware.bits == 8 else 'fixed16'})")
    try:
        table = rows(cfg, streams)
    except (ConfigError, ValueError) as e:
        fail(str(e))
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS + (["switching_network"] if streams is not None else [])
    with open(out.with_suffix(".tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, columns, restval="")
        w.writeheader()
        w.writerows(table)
    out.with_suffix(".tmp").replace(out)
    _print(table, columns, sys.stdout)
    on = (f", switching_network: on {run}'s operands ({IMAGES} test inputs, {PAIRS:,} pairs "
          "per layer, output-stationary)" if run else "")
    base = (f"{kn.reference_label(cfg.hardware)}" if cfg.hardware.cost_reference is not None
            else f"Yosys's exact {cfg.hardware.bits}-bit multiplier (a * b)")
    print(f"{len(table)} multipliers in {time.perf_counter() - started:.1f} s "
          f"(mae_pct, mre_pct: error on uniform signed words as a layer feeds them, an "
          f"unsigned design their magnitudes; area: transistors, switching: fan-out-weighted "
          f"toggles on uniform operands{on}; relative to {base}); written to {out}")


def _print(table: list[dict], columns: list[str], stream) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(*columns)
    for r in table:
        t.add_row(*(str(r.get(c, "")) for c in columns))
    Console(file=stream, width=160).print(t)
