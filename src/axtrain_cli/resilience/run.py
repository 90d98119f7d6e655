"""`axtrain resilience` as a library call: a trained network's neurons scored by every
predictor, the measured ground truth by fault injection on a validation part of the
training data, and how well each predictor ranks (docs/resilience.md). Outputs:
resilience.csv (per neuron), layers.csv (per layer), predictors.csv, curves.csv,
resilience.png, resilience.json, and knobs/protected.yaml (the protection knobs)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import torch

from .. import knobs as kn
from ..data import load_split, validation_split
from ..errors import ConfigError
from ..evaluation import evaluate
from ..knobs import EXACT
from ..methods.approxann import mixed_plan
from ..networks import calibrate, make_plan, network_of, upgrade_state_dict
from ..results import atomic_write_bytes, atomic_write_text, load_checkpoint
from . import quality
from .injection import inject
from .predictors import PREDICTORS, scores

log = logging.getLogger("axtrain")
FAULTS = ("multiplier", "flips")


@dataclass
class ResilienceOptions:
    out: str = "resilience"
    knob: str = "K1"  # the approximate multiplier of the multiplier faults (a compute knob)
    rate: float = 0.01  # the flip rate of the weight faults (ntv660's)
    reads: int = 5  # reads per neuron (flips), averaged
    faults: str = "multiplier,flips"
    predictors: str = ",".join(PREDICTORS)
    validation: int = 1000  # training samples held out (seeded)
    sample: int | None = None  # neurons injected, stratified by layer (None: all)
    seed: int = 0
    resamples: int = 1000  # bootstrap resamples of the correlations' intervals
    protect: str = "10,25"  # percent of neurons the protection knobs keep exact / reliable
    voltage_mv: float = 660.0  # the flipping SRAM's supply, for the protection knobs' power


def parse(pairs: dict[str, str]) -> ResilienceOptions:
    kinds = {f.name: str(f.type) for f in fields(ResilienceOptions)}
    values = {}
    for key, text in pairs.items():
        kind = kinds[key]
        try:
            values[key] = (None if text in ("null", "None") and "None" in kind else
                           int(text) if kind.startswith("int") else
                           float(text) if kind.startswith("float") else text)
        except ValueError:
            raise ConfigError(f"{key}={text!r} is not a {kind.split(' ')[0]}") from None
    o = ResilienceOptions(**values)
    for key, ok, allowed in (
            ("rate", 0 < o.rate <= 1, "a flip probability in (0, 1]"),
            ("reads", o.reads >= 1, "an integer >= 1"),
            ("validation", o.validation >= 10, "at least 10 training samples"),
            ("sample", o.sample is None or o.sample >= 1, "an integer >= 1, or null (all)"),
            ("resamples", o.resamples >= 100, "an integer >= 100"),
            ("protect", _percents(o.protect) is not None, "percents in (0, 100), e.g. 10,25"),
            ("voltage_mv", 0 < o.voltage_mv <= 1100, "a supply in (0, 1100] mV"),
            ("faults", bool(_list(o.faults)) and set(_list(o.faults)) <= set(FAULTS),
             ", ".join(FAULTS)),
            ("predictors", bool(_list(o.predictors)) and set(_list(o.predictors)) <=
             set(PREDICTORS), ", ".join(PREDICTORS))):
        if not ok:
            raise ConfigError(f"{key}={getattr(o, key)!r} is out of range: allowed {allowed}")
    return o


def _percents(text: str) -> list[float] | None:
    try:
        ks = [float(t) for t in _list(text)]
    except ValueError:
        return None
    return ks if all(0 < k < 100 for k in ks) else None


def _list(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def check(cfg, o: ResilienceOptions, total_neurons: int) -> None:
    knob = kn.resolve(o.knob, cfg)
    if knob.domain != "compute":
        raise ConfigError(f"knob={o.knob!r} is not a compute knob: allowed a knob with an "
                          "approximate multiplier and reliable memory (e.g. K1)")
    if o.sample is not None and o.sample > total_neurons:
        raise ConfigError(f"sample={o.sample} is out of range: allowed at most the network's "
                          f"{total_neurons} neurons (or null: all)")


def sampled(net, n: int | None, seed: int) -> list[list[int]]:
    """Per unit, the neurons to inject: all, or n stratified by layer (each layer its share,
    at least one), drawn with `seed`."""
    sizes = [u.outputs for u in net.units]
    if n is None:
        return [list(range(s)) for s in sizes]
    g = torch.Generator().manual_seed(seed)
    share = [max(1, round(n * s / sum(sizes))) for s in sizes]
    return [sorted(torch.randperm(s, generator=g)[:min(k, s)].tolist())
            for s, k in zip(sizes, share)]


def resilience(cfg, model_file: Path, o: ResilienceOptions) -> dict:
    started = time.perf_counter()
    split = load_split(cfg.dataset, cfg.seed)
    part, xv, yv = validation_split(split, o.validation, o.seed)
    net = network_of(cfg)
    net.load_state_dict(upgrade_state_dict(net, load_checkpoint(model_file)["state_dict"]))
    net.eval()
    check(cfg, o, sum(u.outputs for u in net.units))
    bits, fmt, loss, k = cfg.hardware.bits, cfg.hardware.weight_format, cfg.train.loss, \
        split.n_classes
    ranges = calibrate(net, part.x_train, bits)
    knob = kn.resolve(o.knob, cfg)
    exact = make_plan(net, EXACT, bits, ranges, weight_format=fmt)
    approx = make_plan(net, knob, bits, ranges, weight_format=fmt)
    t = time.perf_counter()
    score = scores(net, xv, yv, exact, loss, k, o.seed, _list(o.predictors))
    log.info("resilience: %d predictors in %.1f s", len(score), time.perf_counter() - t)
    base = evaluate(net, xv, yv, exact, loss, k)  # the network on exact fixed point
    base_loss, base_acc = float(base.loss[0]), float(base.accuracy[0])
    picks = sampled(net, o.sample, o.seed)
    rows, gen = [], torch.Generator().manual_seed(o.seed)
    t = time.perf_counter()
    measured = {}
    for i, (u, js) in enumerate(zip(net.units, picks)):
        for fault in _list(o.faults):
            lo, ac = inject(net, xv, yv, exact, approx if fault == "multiplier" else None, i, js,
                            loss, k, rate=o.rate, reads=o.reads, generator=gen)
            measured[i, fault] = (lo - base_loss, base_acc - ac)
        for n, j in enumerate(js):
            rows.append({"layer": u.name, "unit": i, "neuron": j,
                         **{p: float(s[i][j]) for p, s in score.items()},
                         **{f"{w}_{fault}": float(measured[i, fault][m][n])
                            for fault in _list(o.faults)
                            for m, w in enumerate(("loss_increase", "accuracy_drop"))}})
    seconds_injected = time.perf_counter() - t
    log.info("resilience: %d neurons injected in %.1f s", len(rows), seconds_injected)
    df = pd.DataFrame(rows)
    judged, curves = [], []
    for fault in _list(o.faults):
        for p, s in score.items():
            c = quality.correlations(df[p].to_numpy(), df[f"loss_increase_{fault}"].to_numpy(),
                                     o.seed, o.resamples)
            curve = (quality.curve_multiplier(net, xv, yv, knob, bits, ranges, s, fmt)
                     if fault == "multiplier" else
                     quality.curve_flips(net, xv, yv, bits, ranges, s, o.rate, o.reads,
                                         o.seed, fmt))
            curves += [{"fault": fault, "predictor": p, "protected_pct": kk, "accuracy": a}
                       for kk, a in zip(quality.KS, curve)]
            judged.append({"fault": fault, "predictor": p, **c, "auc": quality.area(curve)})
    layers = _layers(net, xv, yv, knob, bits, ranges, fmt, score, base_acc, o)
    summary = {"model": str(model_file), "options": asdict(o), "knob": o.knob,
               "multiplier": knob.multiplier_label, "base_val_accuracy": base_acc,
               "base_val_loss": base_loss, "neurons": len(rows),
               "neurons_total": sum(u.outputs for u in net.units),
               "seconds": round(time.perf_counter() - started, 1),
               "seconds_injection": round(seconds_injected, 1), "predictors": judged}
    _write(Path(o.out), df, layers, pd.DataFrame(judged), pd.DataFrame(curves), summary)
    atomic_write_text(Path(o.out) / "knobs" / "protected.yaml", protection_knobs(
        net, score, kn.to_dict(cfg.knobs[cfg.dataset.levels.get(o.knob, o.knob)]), o))
    return summary


def protection_knobs(net, score, spec: dict, o: ResilienceOptions) -> str:
    """Knobs that protect the top k % of neurons by each predictor (a knob set's YAML, after
    the paper's): `protect_P_K`, the knob's multiplier with those neurons exact;
    `shield_P_K`, weights read with flips at `rate` but those neurons' from reliable SRAM."""
    import yaml

    out = {"defaults": ["paper", "_self_"]}
    flips = {"name": "flips", "voltage_mv": o.voltage_mv, "rate": o.rate}
    for p, s in score.items():
        if p == "random":
            continue
        for k in _percents(o.protect):
            masks = quality.protected_masks(s, k)
            kept = {u.name: [int(j) for j in torch.nonzero(m).flatten()]
                    for u, m in zip(net.units, masks) if bool(m.any())}
            tag = f"{p}_{k:g}"
            if "multiplier" in _list(o.faults):
                out[f"protect_{tag}"] = {"multiplier": spec.get("multiplier", {}), "layers": {
                    n: {"multiplier": {"name": "exact"}, "neurons": js} for n, js in kept.items()}}
            if "flips" in _list(o.faults):
                out[f"shield_{tag}"] = {"memory": flips, "layers": {
                    n: {"memory": {"name": "reliable"}, "neurons": js} for n, js in kept.items()}}
    return yaml.safe_dump(out, sort_keys=False)


@torch.no_grad()
def _layers(net, xv, yv, knob, bits, ranges, fmt, score, base_acc, o) -> pd.DataFrame:
    """Per layer: each predictor's summed score, and the accuracy drop with the whole layer
    on the knob's multiplier."""
    rows = []
    for i, u in enumerate(net.units):
        masks = [torch.full((v.outputs,), j == i) for j, v in enumerate(net.units)]
        acc = quality._accuracy(net, xv, yv, mixed_plan(net, knob, bits, ranges, masks, fmt=fmt))
        rows.append({"layer": u.name, "neurons": u.outputs,
                     **{p: float(s[i].sum()) for p, s in score.items()},
                     "accuracy_drop_multiplier": base_acc - acc})
    return pd.DataFrame(rows)


def _write(out: Path, df, layers, judged, curves, summary) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("resilience.csv", df), ("layers.csv", layers),
                        ("predictors.csv", judged), ("curves.csv", curves)):
        atomic_write_bytes(out / name, frame.to_csv(index=False).encode())
    atomic_write_text(out / "resilience.json", json.dumps(summary, indent=1) + "\n")
    try:
        from ..results.plots import figure, save_png

        faults = list(dict.fromkeys(curves.fault))
        fig, axes = figure(len(faults), 5.0, 3.8)
    except ImportError:
        log.info("resilience: no plot (matplotlib is not installed: the `plots` extra)")
        return
    for ax, fault in zip(axes, faults):
        for p, g in curves[curves.fault == fault].groupby("predictor", sort=False):
            ax.plot(g.protected_pct, 100 * g.accuracy, marker=".", label=p,
                    ls=":" if p == "random" else "-")
        ax.set(xlabel="neurons protected (%), top by the predictor",
               ylabel="validation accuracy (%)",
               title=f"faults: {fault}" + (" (the rest approximate)" if fault == "multiplier"
                                          else " (the rest's weights flip)"))
        ax.legend(fontsize=7)
    save_png(out / "resilience.png", fig)
