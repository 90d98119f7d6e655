"""The stages of one run, each a call of its own (the Python API, axtrain_cli.api, calls
them one by one; `run.run` all of them): load_data, build_network, train, evaluate,
write. Their logs are the run's log lines."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .. import knobs, methods, ui
from ..data import Split, load_split
from ..evaluation import network_sensitivity, sensitivity_map, sweep
from ..methods.base import Context, Trained, checkpoint_facts
from ..networks import Network, network_of
from ..results import SCHEMA_VERSION, Row, checkpoint_bytes, commit_run, csv_bytes, frame, identity
from ..settings import Settings, to_dict, to_yaml
from ..training import TrainingState
from .checks import torch_device

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


def load_data(cfg: Settings) -> Split:
    """The application's seeded split (dataset, seed), on the run's device."""
    device = torch_device(cfg.device)
    split = load_split(cfg.dataset, cfg.seed).to(device)
    log.info("data: %r on %s", split, device)
    return split


def build_network(cfg: Settings) -> Network:
    """The network `topology` names for the dataset, its initial weights drawn from the
    seed (torch's global generator, seeded here), on the run's device; its coverage
    logged, with a warning below 99 % of its products on the hardware."""
    torch.manual_seed(cfg.seed)
    net = network_of(cfg).to(torch_device(cfg.device))
    facts = run_facts(cfg, net)
    log.info("network %s (architecture %s), %s", facts["topology"], facts["arch"],
             f"from {facts['checkpoint']}" if facts["checkpoint"] else "trained here")
    log.info("on the hardware models: %s", net.coverage.describe())
    if net.coverage.share < COVERAGE_WARNING:
        log.warning("only %.2f %% of the network's multiply-accumulates run on the hardware "
                    "models; the largest parts in float: %s (hardware.min_coverage turns "
                    "this into an error)", 100 * net.coverage.share, ", ".join(
                        f"{p.name} ({p.op})" for p in net.coverage.in_float()))
    return net


def estimate_of(split: Split, cfg: Settings) -> ui.RunEstimate:
    """The run's planned work, for its time-left estimate."""
    return ui.RunEstimate(
        methods.planned_epochs(cfg) * -(-len(split.x_train) // cfg.train.batch_size),
        cfg.train.batch_size, len(split.x_test) * sum(
            cfg.eval.trials if knobs.resolve(k, cfg).stochastic else 1
            for k in cfg.eval.knobs))


def train(net: Network, split: Split, cfg: Settings, *, state: TrainingState | None = None,
          progress=None) -> Trained:
    """Train `net` with `cfg.method` (the batch order and the hardware draws from
    generators seeded by cfg.seed); `state`: the run's resumable training (None: none);
    `progress`: the run's progress display (None: one of its own, cfg.progress)."""
    device = split.x_train.device
    gen = torch.Generator().manual_seed(cfg.seed)
    draws = None if device.type == "cpu" else torch.Generator(device).manual_seed(cfg.seed)
    if state is not None:
        state.generators = [g for g in (gen, draws) if g is not None]
    if progress is None:
        estimate = estimate_of(split, cfg)
        with ui.progress(cfg.progress, estimate) as bar, interruptible(state):
            estimate.start()
            return methods.train(net, Context(cfg, cfg.method, split, gen, bar, draws, state))
    return methods.train(net, Context(cfg, cfg.method, split, gen, progress, draws, state))


@dataclass
class Swept:
    """What the sweep measured: the result rows and the last-layer sensitivity map."""

    rows: list[Row]
    sensitivity_map: torch.Tensor

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as results.csv holds them."""
        return frame(self.rows)


def evaluate(trained: Trained, split: Split, cfg: Settings, progress=None) -> Swept:
    """The result rows of the trained network (evaluate_trained) and its last-layer
    sensitivity map."""
    t_eval = time.perf_counter()
    rows = evaluate_trained(trained, split, cfg, progress)
    smap = sensitivity_map(trained.net, split.x_test[:SENSITIVITY_SAMPLES]).cpu()
    log.info("evaluated %d knobs in %.2f s", len(cfg.eval.knobs), time.perf_counter() - t_eval)
    return Swept(rows, smap)


def write(out_dir: str | Path, cfg: Settings, trained: Trained, swept: Swept) -> pd.DataFrame:
    """The run's files in out_dir, as one set (results.commit_run): config.yaml,
    results.csv, history.csv, model.pt (with `checkpoint`), sensitivity_map.csv (and .png
    with matplotlib), manifest.json. Returns results.csv's rows."""
    out_dir, smap = Path(out_dir), swept.sensitivity_map
    df = swept.frame
    facts = run_facts(cfg, trained.net)
    files = {"config.yaml": to_yaml(cfg).encode()}
    history = pd.DataFrame(trained.history) if trained.history else None
    if history is not None:
        files["history.csv"] = csv_bytes(history)
    if cfg.checkpoint:
        files["model.pt"] = checkpoint_bytes({
            "state_dict": _cpu(trained.net.state_dict()),
            "per_knob": {k: _cpu(m.state_dict()) for k, m in trained.per_knob.items()},
            "topology": to_dict(cfg.topology),
            "input_shape": list(cfg.dataset.input_shape), "n_classes": cfg.dataset.n_classes,
            "dataset": cfg.dataset.name, "dataset_path": cfg.dataset.path, "seed": cfg.seed,
            "schema_version": SCHEMA_VERSION,
            # what the network is, for the runs that start from it (checkpoint_facts)
            **{k: facts[k] for k in ("method", "epochs", "topology_label", "arch", "bits",
                                     "weight_format", "setting")},
            "train_knob": trained.train_knob})
    files["sensitivity_map.csv"] = csv_bytes(map_frame(smap))
    try:
        from ..results.plots import heatmap_png

        files["sensitivity_map.png"] = heatmap_png(
            smap.reshape(smap.shape[0], -1).numpy(),
            f"{cfg.dataset.name} / {cfg.method.name}: last-layer sensitivity")
    except ImportError:
        log.info("matplotlib is not installed (the `plots` extra): no sensitivity_map.png")
    files["results.csv"] = csv_bytes(df)
    commit_run(out_dir, files)
    return df


@contextlib.contextmanager
def interruptible(state: TrainingState | None):
    """Ctrl-C inside: training.Interrupted, saying what is saved and what is lost."""
    try:
        yield
    except KeyboardInterrupt:
        if state is None:
            raise
        raise state.interrupted() from None


def run_facts(cfg, net) -> dict:
    """What defines the run's measurements besides the seed and the knob (results.Row): the
    network built, the training that made it (a checkpoint's own facts included) and the
    run's settings."""
    ck = checkpoint_facts(cfg.method.checkpoint) if cfg.method.checkpoint else {}
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
                "train_multiplier": knob.multiplier_label if knob else "",
                "train_memory": knob.memory_label if knob else ""}

    # the share of the network's multiply-accumulates that ran on the hardware models
    figures = {**trained.figures, "hw_mac_share": round(trained.net.coverage.share, 6)}
    if cfg.hardware.cost_reference is not None:  # what compute_power is relative to
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
