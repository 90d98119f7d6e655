"""`run(cfg, out_dir)`: one training run and its inference sweep, callable from a notebook.

Writes into out_dir (all atomically, at the end, so a failed run leaves nothing half
written): config.yaml (resolved), results.csv, history.csv, model.pt,
sensitivity_map.csv (+ .png with matplotlib)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from . import ui
from .config import validate
from .data import load_split
from .evaluate import sweep
from .methods import Context, run_method
from .models import build_model
from .sensitivity import network_sensitivity, sensitivity_map
from .results import COLUMNS, SCHEMA_VERSION, atomic_write_text, save_checkpoint, write_csv

log = logging.getLogger("axtrain")


SENSITIVITY_SAMPLES = 2048  # test samples the reported S(w) and the map average over


def _sensitivity(net, x) -> float:
    with torch.no_grad():
        return float(network_sensitivity(net, x))


def map_frame(smap: torch.Tensor) -> pd.DataFrame:
    """A last-layer sensitivity map as (row, col, value) rows (conv maps: kernels flattened)."""
    m = smap.reshape(smap.shape[0], -1)
    rows, cols = torch.meshgrid(torch.arange(m.shape[0]), torch.arange(m.shape[1]),
                                indexing="ij")
    return pd.DataFrame({"row": rows.flatten().numpy(), "col": cols.flatten().numpy(),
                         "value": m.flatten().double().numpy()})


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run(cfg: DictConfig, out_dir: str | Path) -> pd.DataFrame:
    """Train `cfg.method` on `cfg.dataset`, sweep the hardware knobs, write the outputs."""
    validate(cfg)
    out_dir = Path(out_dir)
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    start = time.perf_counter()
    log.info("dataset=%s topology=%s method=%s seed=%s threads=%d", cfg.dataset.name,
             cfg.topology.name, cfg.method.name, cfg.seed, torch.get_num_threads())
    log.info("fidelity choices: loss=%s bits=%d K->k=%s flip_rates=%s store_biases=%s "
             "calibration=%s trials=%d", cfg.train.loss, cfg.hardware.bits,
             dict(cfg.hardware.multipliers), dict(cfg.hardware.flip_rates),
             cfg.hardware.store_biases, cfg.hardware.calibration, cfg.eval.trials)
    log.info("method settings: %s", OmegaConf.to_container(cfg.method, resolve=True))

    split = load_split(cfg.dataset, cfg.seed)
    log.info("data: %r", split)
    gen = seed_everything(cfg.seed)
    net = build_model(cfg.topology, list(cfg.dataset.input_shape), cfg.dataset.n_classes)
    with ui.progress(cfg.progress) as bar:
        trained = run_method(cfg.method.name, net, Context(cfg, split, gen, bar))
        log.info("data loaded and %s trained in %.1f s", cfg.method.name,
                 time.perf_counter() - start)
        t_eval = time.perf_counter()
        x_s = split.x_test[:SENSITIVITY_SAMPLES]
        train_knob = cfg.approx.name if cfg.method.name in ("pas", "approxann") else ""
        rows = [{"train_knob": train_knob, "sensitivity": _sensitivity(trained.net, x_s), **r}
                for r in sweep(trained.net, split, cfg,
                               [k for k in cfg.eval.knobs if k not in trained.per_knob],
                               seed=cfg.seed, progress=bar)]
        for knob, model in trained.per_knob.items():
            s_knob = _sensitivity(model, x_s)
            rows += [{"train_knob": knob, "sensitivity": s_knob, **r}
                     for r in sweep(model, split, cfg, [knob], seed=cfg.seed, progress=bar)]
        rows += [{"train_knob": train_knob, **r} for r in trained.rows]
        smap = sensitivity_map(trained.net, x_s)
        log.info("evaluated %d knobs in %.1f s", len(cfg.eval.knobs), time.perf_counter() - t_eval)
    common = {"schema_version": SCHEMA_VERSION, "dataset": cfg.dataset.name,
              "topology": cfg.topology.name, "method": cfg.method.name,
              "seed": cfg.seed, "epochs": cfg.train.epochs, **trained.figures}
    rows = [{**common, **r} for r in rows]
    df = pd.DataFrame(rows)
    df = df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]

    # Everything is computed: now write (each file atomically).
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if trained.history:
        write_csv(out_dir / "history.csv", pd.DataFrame(trained.history))
    if cfg.checkpoint:
        save_checkpoint(out_dir / "model.pt", {
            "state_dict": trained.net.state_dict(),
            "per_knob": {k: m.state_dict() for k, m in trained.per_knob.items()},
            "topology": OmegaConf.to_container(cfg.topology, resolve=True),
            "input_shape": list(cfg.dataset.input_shape), "n_classes": cfg.dataset.n_classes,
            "schema_version": SCHEMA_VERSION})
    write_csv(out_dir / "sensitivity_map.csv", map_frame(smap))
    try:
        from .report import heatmap_png

        heatmap_png(out_dir / "sensitivity_map.png", smap.reshape(smap.shape[0], -1).numpy(),
                    f"{cfg.dataset.name} / {cfg.method.name}: last-layer sensitivity")
    except ImportError:
        log.info("matplotlib is not installed (the `plots` extra): no sensitivity_map.png")
    write_csv(out_dir / "results.csv", df)
    log.info("wrote %s (%d rows) in %.1f s", out_dir / "results.csv", len(df),
             time.perf_counter() - start)
    ui.print_table(ui.summary(rows, f"{cfg.dataset.name} / {cfg.method.name} / seed {cfg.seed}"))
    return df
