"""`run(cfg, out_dir)`: one training run and its inference sweep, callable from a notebook.

Writes into out_dir, at the end and as one set (`results.commit_run`: a failed run leaves
an earlier run's set as it was, an interrupted write leaves no manifest): config.yaml
(resolved), results.csv, history.csv, model.pt, sensitivity_map.csv (+ .png with
matplotlib), manifest.json."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from . import identity, knobs, methods, tracking, ui
from .config import torch_device
from .methods.base import Context, Trained, checkpoint_facts, network_of
from .data import load_split
from .evaluate import sweep
from .resume import TrainingState
from .results import SCHEMA_VERSION, Row, checkpoint_bytes, commit_run, csv_bytes, frame
from .schema import validate
from .sensitivity import network_sensitivity, sensitivity_map

log = logging.getLogger("axtrain")


SENSITIVITY_SAMPLES = 2048  # test samples the reported S(w) and the map average over
COVERAGE_WARNING = 0.99  # below this share of products on the hardware, a warning


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


def _cpu(state: dict) -> dict:
    """A state dict with CPU tensors: a checkpoint loads anywhere."""
    return {k: v.cpu() for k, v in state.items()}


def busy_cores(cores: set[int], seconds: float = 0.1) -> float | None:
    """How many of `cores` other processes keep busy now (this one sleeps while it is
    measured): /proc/stat's per-CPU busy time over `seconds`; None where it cannot be read."""
    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *ticks = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                    t = [int(v) for v in ticks]
                    out[int(name[3:])] = (sum(t), t[3] + (t[4] if len(t) > 4 else 0))
        return out

    try:
        a = sample()
        time.sleep(seconds)
        b = sample()
    except (OSError, ValueError, IndexError):
        return None
    busy = 0.0
    for c in a.keys() & b.keys():
        total, idle = b[c][0] - a[c][0], b[c][1] - a[c][1]
        busy += (total - idle) / total if total > 0 else 0.0
    return busy


def choose_threads(setting) -> tuple[int, str]:
    """(torch threads, why) for the `threads` setting: a number as given; null, the cores
    this process may use (its CPU affinity; the same count whatever else runs, so the same
    command gives the same bytes: convolutions round differently with another thread
    count), warning when other processes keep some of them busy; auto, those cores less
    the ones other processes keep busy when it starts (faster on a loaded machine)."""
    cores = os.sched_getaffinity(0)
    if isinstance(setting, int):
        if setting > len(cores):
            log.warning("threads=%d is more than the %d cores this process may use: expect it "
                        "to run slower, not faster", setting, len(cores))
        return setting, "threads=" + str(setting)
    busy = busy_cores(cores)
    if setting == "auto":
        n = max(1, min(len(cores), round(len(cores) - (busy or 0.0))))
        return n, (f"threads=auto: {len(cores)} cores, {busy:.1f} kept busy by other "
                   "processes" if busy is not None else f"threads=auto: {len(cores)} cores")
    if busy is not None and round(len(cores) - busy) < len(cores):
        log.warning("other processes keep %.1f of the %d cores this process may use busy: "
                    "threads=auto (or threads=N) would use fewer threads and run faster (its "
                    "results may differ in rounding from a run with %d threads)", busy,
                    len(cores), len(cores))
    return len(cores), "the cores this process may use"


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run(cfg: DictConfig, out_dir: str | Path, sweep_dir: str | None = None) -> pd.DataFrame:
    """Train `cfg.method` on `cfg.dataset`, sweep the hardware knobs, write the outputs (and
    record them with `cfg.logger`; `sweep_dir`: the multirun's dir, grouping its jobs)."""
    validate(cfg, data=False)  # the data is loaded (and checked) below, before training
    out_dir = Path(out_dir)
    threads, why = choose_threads(cfg.threads)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    log.info("dataset=%s topology=%s method=%s seed=%s threads=%d (%s)", cfg.dataset.name,
             cfg.topology.get("name", "-"), cfg.method.name, cfg.seed, threads, why)
    log.info("fidelity choices: loss=%s bits=%d weight_format=%s store_biases=%s "
             "calibration=%s trials=%d scaling=%s power_model=%s", cfg.train.loss,
             cfg.hardware.bits, cfg.hardware.weight_format, cfg.hardware.store_biases,
             cfg.hardware.calibration, cfg.eval.trials, cfg.dataset.scaling,
             cfg.hardware.get("power_model", "proxy"))
    log.info("knobs: %s", OmegaConf.to_container(cfg.knobs, resolve=True))
    m = methods.typed(cfg)
    log.info("method settings: %s", m)

    device = torch_device(cfg.device)
    split = load_split(cfg.dataset, cfg.seed).to(device)
    log.info("data: %r on %s", split, device)
    gen = seed_everything(cfg.seed)
    draws = None if device.type == "cpu" else torch.Generator(device).manual_seed(cfg.seed)
    net = network_of(cfg).to(device)
    facts = run_facts(cfg, net)
    log.info("network %s (architecture %s), %s", facts["topology"], facts["arch"],
             f"from {facts['checkpoint']}" if facts["checkpoint"] else "trained here")
    log.info("on the hardware models: %s", net.coverage.describe())
    if net.coverage.share < COVERAGE_WARNING:
        log.warning("only %.2f %% of the network's multiply-accumulates run on the hardware "
                    "models; the largest parts in float: %s (hardware.min_coverage turns "
                    "this into an error)", 100 * net.coverage.share, ", ".join(
                        f"{p.name} ({p.op})" for p in net.coverage.in_float()))
    state = TrainingState(out_dir, cfg, [gen, draws])
    estimate = ui.RunEstimate(
        methods.planned_epochs(cfg) * -(-len(split.x_train) // cfg.train.batch_size),
        cfg.train.batch_size, len(split.x_test) * sum(
            cfg.eval.trials if knobs.resolve(k, cfg).memory.stochastic else 1
            for k in cfg.eval.knobs))
    with ui.progress(cfg.progress, estimate) as bar, _interruptible(state):
        estimate.start()
        trained = methods.train(net, Context(cfg, m, split, gen, bar, draws, state))
        if facts["trained_here"]:
            log.info("data loaded and %s trained in %.1f s", m.name, time.perf_counter() - start)
        else:
            log.info("data loaded and the %s network of %s evaluated as it is (%s epochs)",
                     m.name, facts["checkpoint"], facts["epochs"])
        t_eval = time.perf_counter()
        rows = evaluate_trained(trained, split, cfg, bar, facts)
        smap = sensitivity_map(trained.net, split.x_test[:SENSITIVITY_SAMPLES]).cpu()
        log.info("evaluated %d knobs in %.2f s", len(cfg.eval.knobs), time.perf_counter() - t_eval)
    df = frame(rows)

    # Everything is computed: now write, as one set (results.commit_run).
    files = {"config.yaml": OmegaConf.to_yaml(cfg, resolve=True).encode()}
    history = pd.DataFrame(trained.history) if trained.history else None
    if history is not None:
        files["history.csv"] = csv_bytes(history)
    if cfg.checkpoint:
        files["model.pt"] = checkpoint_bytes({
            "state_dict": _cpu(trained.net.state_dict()),
            "per_knob": {k: _cpu(m.state_dict()) for k, m in trained.per_knob.items()},
            "topology": OmegaConf.to_container(cfg.topology, resolve=True),
            "input_shape": list(cfg.dataset.input_shape), "n_classes": cfg.dataset.n_classes,
            "dataset": cfg.dataset.name, "dataset_path": cfg.dataset.path, "seed": cfg.seed,
            "schema_version": SCHEMA_VERSION,
            # what the network is, for the runs that start from it (checkpoint_facts)
            **{k: facts[k] for k in ("method", "epochs", "topology_label", "arch", "bits",
                                     "weight_format", "setting")},
            "train_knob": trained.train_knob})
    files["sensitivity_map.csv"] = csv_bytes(map_frame(smap))
    try:
        from .plotting import heatmap_png

        files["sensitivity_map.png"] = heatmap_png(
            smap.reshape(smap.shape[0], -1).numpy(),
            f"{cfg.dataset.name} / {cfg.method.name}: last-layer sensitivity")
    except ImportError:
        log.info("matplotlib is not installed (the `plots` extra): no sensitivity_map.png")
    files["results.csv"] = csv_bytes(df)
    commit_run(out_dir, files)
    state.clear()  # the run is whole: its training need not resume
    log.info("wrote %s (%d rows) in %.1f s", out_dir / "results.csv", len(df),
             time.perf_counter() - start)
    tracking.log_run(cfg, out_dir, df, history, sweep_dir)
    ui.print_table(ui.summary(df, f"{cfg.dataset.name} / {cfg.method.name} / seed {cfg.seed}",
                              knobs.paper_labels(cfg.hardware.bits)))
    return df


@contextlib.contextmanager
def _interruptible(state: TrainingState):
    """Ctrl-C inside: resume.Interrupted, saying what is saved and what is lost."""
    try:
        yield
    except KeyboardInterrupt:
        raise state.interrupted() from None


def run_facts(cfg, net) -> dict:
    """What defines the run's measurements besides the seed and the knob (results.Row): the
    network built, the training that made it (a checkpoint's own facts included) and the
    run's settings."""
    ck = checkpoint_facts(cfg.method.checkpoint) if cfg.method.get("checkpoint") else {}
    trained_here = not ck or cfg.method.name == "pas"  # pas fine-tunes its checkpoint
    start = ck["epochs"] if ck else 0  # None: a checkpoint that does not say
    epochs = None if start is None else start + (cfg.train.epochs if trained_here else 0)
    return {"method": cfg.method.name, "topology": net.label, "topology_label": net.label,
            "arch": identity.arch_hash(net), "epochs": epochs, "bits": cfg.hardware.bits,
            "weight_format": cfg.hardware.weight_format, "trained_here": trained_here,
            "checkpoint": str(cfg.method.checkpoint) if ck else "",
            "setting": identity.setting_hash(cfg, ck.get("setting") or "")}


def evaluate_trained(trained: Trained, split, cfg, progress=None, facts=None) -> list[Row]:
    """The sweep of the trained network (each per-knob network on its own knob) and the
    method's own measurements, as result rows."""
    facts = facts or run_facts(cfg, trained.net)
    x_s = split.x_test[:SENSITIVITY_SAMPLES]
    run = {"dataset": cfg.dataset.name, **{k: facts[k] for k in (
        "topology", "arch", "method", "epochs", "bits", "weight_format", "checkpoint",
        "setting")}, "seed": cfg.seed}

    def trained_for(name: str) -> dict:
        knob = knobs.resolve(name, cfg) if name else None
        return {"train_knob": name,
                "train_multiplier": knob.multiplier.label if knob else "",
                "train_memory": knob.memory.label if knob else ""}

    # the share of the network's multiply-accumulates that ran on the hardware models
    figures = {**trained.figures, "hw_mac_share": round(trained.net.coverage.share, 6)}
    if cfg.hardware.get("cost_reference") is not None:  # what compute_power is relative to
        figures = {**figures, "cost_reference": knobs.reference_label(cfg.hardware)}
    jobs = [(trained.net, trained.train_knob,
             [k for k in cfg.eval.knobs if k not in trained.per_knob]),
            *((model, knob, [knob]) for knob, model in trained.per_knob.items())]
    task = (progress.add_task("evaluate", total=sum(len(j[2]) for j in jobs), every=True)
            if progress else None)
    out = []
    for net, train_knob, names in jobs:
        net.eval()  # measured as inference runs it (a BatchNorm's running statistics)
        s = _sensitivity(net, x_s)
        out += [Row(**run, **trained_for(train_knob), sensitivity=s, measurement=m,
                    figures=figures)
                for m in sweep(net, split, cfg, names, seed=cfg.seed, progress=progress,
                               task=task)]
    return out + [Row(**run, **trained_for(trained.train_knob), sensitivity=None,
                      measurement=m, figures=figures) for m in trained.measurements]
