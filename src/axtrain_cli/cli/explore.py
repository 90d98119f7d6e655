"""`axtrain explore run=DIR [knobs=SET] [options]`: which multiplier in which layer.

    axtrain explore run=runs/lenet knobs=explore                 # the library set
    axtrain explore run=runs/lenet/model.pt knobs=library library=exact,K1,K2,trunc5
    axtrain explore run=DIR knobs=explore trials=400 storage=postgresql://host/db worker=3

`run=` a bp or act run's dir or its model.pt (as `axtrain synth run=` takes one); `knobs=`
the knob set whose multipliers form the library (knobs with a memory of their own are left
out), any other Hydra override of the run's config (e.g. `+knobs.mine={multiplier: ...}`).
Options (key=value): out, library, validation, budgets, search, trials, minutes,
population, seed, worker, storage, study, retrain_epochs, retrain_lr, gradient,
gradient_window, cache_mb (docs/explore.md). A rerun with the same options continues the
study; several processes with the same `storage` and distinct `worker`s share one front.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path

from ..errors import ConfigError
from .messages import fail


def main(argv: list[str]) -> None:
    from ..explore import ExploreOptions, explore, parse, prepare
    from .eval import run_arguments, run_settings, start_analysis

    got = run_arguments(argv, {f.name for f in fields(ExploreOptions)}, __doc__, "explored")
    if got is None:
        return
    file, pairs, overrides = got
    set_name = next((a.split("=", 1)[1] for a in overrides if a.startswith("knobs=")), "paper")
    try:
        options = parse(pairs)
        cfg = run_settings(file, overrides)
        prepared = prepare(cfg, file, options, set_name)
    except ConfigError as e:
        fail(str(e))
    start_analysis(cfg)
    started = time.perf_counter()
    try:
        summary = explore(prepared)
    except ConfigError as e:
        fail(str(e))
    _print(summary)
    for line in summary["unmet"]:
        print(line)
    print(f"explored in {time.perf_counter() - started:.0f} s ({summary['candidates']} "
          f"candidates, {summary['candidates_per_minute']} a minute); written to "
          f"{options.out}: pareto.csv, points.csv, sensitivity.csv, pareto.png, explore.json, "
          f"knobs/explored.yaml (axtrain eval {file} hydra.searchpath=[file://"
          f"{Path(options.out).resolve()}] knobs=explored eval.knobs=[exact,"
          f"{','.join(c['knob'] for c in summary['chosen'])}])")


def _print(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = ["knob", "source", "budget_points", "val_accuracy", "compute_power",
            "test_accuracy", "retrained_val_accuracy", "retrained_test_accuracy"]
    t = Table(*cols, title="exact network: validation accuracy "
              f"{summary['exact_val_accuracy']:.4f}")
    for c in summary["chosen"]:
        t.add_row(*(f"{c[k]:.4f}" if isinstance(c.get(k), float) else str(c.get(k, ""))
                    for k in cols))
    Console(width=160).print(t)
