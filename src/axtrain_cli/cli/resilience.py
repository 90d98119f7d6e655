"""`axtrain resilience run=DIR [options]`: which neurons and layers are fragile, predicted
several ways and measured by fault injection.

    axtrain resilience run=runs/lenet                        # K1 and flips at 0.01
    axtrain resilience run=runs/lenet/model.pt knob=K2 rate=0.001 reads=10 sample=200

`run=` a bp or act run's dir or its model.pt (as `axtrain synth run=` takes one). Options
(key=value): out, knob, rate, reads, faults, predictors, validation, sample, seed,
resamples (docs/resilience.md); any other Hydra override of the run's config (e.g.
`knobs=library knob=trunc4`, `hardware.bits=8`).
"""

from __future__ import annotations

import time
from dataclasses import fields

from ..errors import ConfigError
from .messages import fail


def main(argv: list[str]) -> None:
    from ..resilience import ResilienceOptions, parse
    from .eval import run_arguments, run_settings, start_analysis

    got = run_arguments(argv, {f.name for f in fields(ResilienceOptions)}, __doc__, "analysed")
    if got is None:
        return
    file, pairs, overrides = got
    try:
        options = parse(pairs)
        cfg = run_settings(file, overrides)
        from ..networks import network_of
        from ..resilience.run import check

        check(cfg, options, sum(u.outputs for u in network_of(cfg).units))
    except ConfigError as e:
        fail(str(e))
    from ..resilience import resilience

    start_analysis(cfg)
    started = time.perf_counter()
    try:
        summary = resilience(cfg, file, options)
    except ConfigError as e:
        fail(str(e))
    _print(summary)
    print(f"analysed {summary['neurons']} of {summary['neurons_total']} neurons in "
          f"{time.perf_counter() - started:.0f} s (injection {summary['seconds_injection']} s);"
          f" written to {options.out}: resilience.csv, layers.csv, predictors.csv, curves.csv,"
          " resilience.png, resilience.json")


def _print(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("fault", "predictor", "spearman [95 %]", "kendall [95 %]", "auc",
              title=f"{summary['multiplier']}: base validation accuracy "
                    f"{summary['base_val_accuracy']:.4f}")
    for r in summary["predictors"]:
        t.add_row(r["fault"], r["predictor"],
                  f"{r['spearman']:.3f} [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}]",
                  f"{r['kendall']:.3f} [{r['kendall_lo']:.3f}, {r['kendall_hi']:.3f}]",
                  f"{r['auc']:.4f}")
    Console(width=160).print(t)
