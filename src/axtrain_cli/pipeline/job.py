"""A whole run, as `axtrain train` runs one job: its threads and first log lines (`start`),
then every stage (pipeline.stages), the outputs written as one set, the tracker told."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import torch

from .. import knobs, ui
from ..results import tracking
from ..settings import Settings, to_dict
from ..training import TrainingState
from .checks import validate
from .stages import (
    build_network,
    estimate_of,
    evaluate,
    interruptible,
    load_data,
    run_facts,
    train,
    write,
)
from .threads import choose_threads

log = logging.getLogger("axtrain")


def start(cfg: Settings) -> None:
    """The run's threads (`threads`) and its first log lines: what it runs, the fidelity
    choices, the knobs, the method's settings."""
    threads, why = choose_threads(cfg.threads)
    torch.set_num_threads(threads)
    log.info("dataset=%s topology=%s method=%s seed=%s threads=%d (%s)", cfg.dataset.name,
             cfg.topology.name or "-", cfg.method.name, cfg.seed, threads, why)
    log.info("fidelity choices: loss=%s bits=%d weight_format=%s store_biases=%s "
             "calibration=%s trials=%d scaling=%s power_model=%s", cfg.train.loss,
             cfg.hardware.bits, cfg.hardware.weight_format, cfg.hardware.store_biases,
             cfg.hardware.calibration, cfg.eval.trials, cfg.dataset.scaling,
             cfg.hardware.power_model)
    log.info("knobs: %s", to_dict(cfg.knobs))
    log.info("method settings: %s", cfg.method)


def run(cfg: Settings, out_dir: str | Path, sweep_dir: str | None = None) -> pd.DataFrame:
    """Train `cfg.method` on `cfg.dataset`, sweep the hardware knobs, write the outputs (and
    record them with `cfg.logger`; `sweep_dir`: the multirun's dir, grouping its jobs).
    Returns results.csv's rows."""
    validate(cfg, data=False)  # the data is loaded (and checked) below, before training
    out_dir = Path(out_dir)
    started = time.perf_counter()
    start(cfg)
    split = load_data(cfg)
    net = build_network(cfg)
    facts = run_facts(cfg, net)
    state = TrainingState(out_dir, cfg)
    estimate = estimate_of(split, cfg)
    with ui.progress(cfg.progress, estimate) as bar, interruptible(state):
        estimate.start()
        trained = train(net, split, cfg, state=state, progress=bar)
        if facts["trained_here"]:
            log.info("data loaded and %s trained in %.1f s", cfg.method.name,
                     time.perf_counter() - started)
        else:
            log.info("data loaded and the %s network of %s evaluated as it is (%s epochs)",
                     cfg.method.name, facts["checkpoint"], facts["epochs"])
        swept = evaluate(trained, split, cfg, bar)
    # Everything is computed: now write, as one set (results.commit_run).
    df = write(out_dir, cfg, trained, swept)
    state.clear()  # the run is whole: its training need not resume
    log.info("wrote %s (%d rows) in %.1f s", out_dir / "results.csv", len(df),
             time.perf_counter() - started)
    history = pd.DataFrame(trained.history) if trained.history else None
    tracking.log_run(cfg, out_dir, df, history, sweep_dir)
    ui.print_table(ui.summary(df, f"{cfg.dataset.name} / {cfg.method.name} / seed {cfg.seed}",
                              knobs.paper_labels(cfg.hardware.bits)))
    return df
