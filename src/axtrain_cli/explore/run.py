"""`axtrain explore` as a library call: a trained network, a knob set as the library of
multipliers, and the options; the points of each way through the space, their fronts, the
points chosen within each accuracy budget (judged on the validation part of the training
data, then measured once on the test split, before and after optional pas retraining),
and the outputs: pareto.csv, points.csv, pareto.png, knobs/explored.yaml, explore.json."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from .. import knobs as kn
from ..data import Split, load_split, validation_split
from ..errors import ConfigError
from ..evaluation import evaluate as evaluate_test
from ..networks import calibrate, make_plan, network_of, upgrade_state_dict
from ..results import load_checkpoint
from . import search as walk
from .options import ExploreOptions
from .outputs import write
from .space import Entry, Space

log = logging.getLogger("axtrain")


def library_of(cfg) -> tuple[list[Entry], list[str]]:
    """The multipliers of cfg.knobs (or of `names`), one Entry per distinct multiplier,
    exact first; and the knobs left out (a memory of their own, or no multiplier)."""
    h = cfg.hardware
    reference = kn.cost_reference(h)
    entries, left, seen = [], [], set()
    for name, spec in cfg.knobs.items():
        knob = kn.build(name, spec, h.bits)
        if knob.layers or not knob.memory.nominal or knob.memory.stochastic:
            left.append(name)
            continue
        m = knob.multiplier
        if m.label in seen:
            continue
        seen.add(m.label)
        entries.append(Entry(name, m, kn.to_dict(spec.get("multiplier") or {"name": "exact"}),
                             m.power_as(h.power_model, h.bits, reference)))
    entries.sort(key=lambda e: not e.multiplier.exact)
    return entries, left


def select(entries: list[Entry], names: str | None, set_name: str) -> list[Entry]:
    if names is None:
        out = entries
    else:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        known = {e.knob for e in entries}
        for n in wanted:
            if n not in known:
                raise ConfigError(f"library: {n!r} is not a multiplier knob of knobs="
                                  f"{set_name}: allowed {', '.join(sorted(known))}")
        out = [e for e in entries if e.knob in wanted or e.multiplier.exact]
    if not any(e.multiplier.exact for e in out):
        raise ConfigError(f"knobs={set_name}: the library has no exact multiplier to compare "
                          "against: allowed a set with one (e.g. exact: {})")
    if len(out) < 2:
        raise ConfigError(f"knobs={set_name}: the library has no approximate multiplier: "
                          "allowed a set with at least one")
    return out


def study_name(model_file: Path, entries: list[Entry], o: ExploreOptions) -> str:
    digest = hashlib.sha256(Path(model_file).read_bytes())
    digest.update(json.dumps([[e.label, e.power] for e in entries]).encode())
    digest.update(f"{o.validation},{o.seed}".encode())
    return f"explore-{digest.hexdigest()[:12]}"


@dataclass
class Prepared:
    """What `prepare` checked: the library, the study's storage and name, the data."""

    cfg: object
    model_file: Path
    options: ExploreOptions
    set_name: str
    entries: list[Entry]
    url: str
    name: str
    split: Split
    part: Split
    xv: torch.Tensor
    yv: torch.Tensor


def prepare(cfg, model_file: Path, o: ExploreOptions, set_name: str = "") -> Prepared:
    """Every check that needs the settings, the library or the data (ConfigError, one
    line), before any work: the library, the storage URL, the validation size."""
    out = Path(o.out)
    entries = select(library_of(cfg)[0], o.library, set_name)
    url = o.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    name = o.study or study_name(model_file, entries, o)
    split = load_split(cfg.dataset, cfg.seed)
    part, xv, yv = validation_split(split, o.validation, o.seed)
    if o.search:  # a bad URL: one line before any work
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ConfigError("search=true needs Optuna (pip install 'axtrain[explore]'): "
                              "allowed search=false without it (the uniform knobs and the "
                              "greedy baseline)") from None
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        try:
            walk.storage(url)
        except Exception as e:
            raise ConfigError(f"storage={url!r}: {type(e).__name__}: {str(e).splitlines()[0]}"
                              " (allowed an Optuna storage URL, e.g. sqlite:///study.db)")
    return Prepared(cfg, Path(model_file), o, set_name, entries, url, name, split, part, xv, yv)


def explore(p: Prepared) -> dict:
    """Run the exploration (the module docstring) and write its outputs to o.out."""
    started = time.perf_counter()
    cfg, model_file, o, set_name, entries = p.cfg, p.model_file, p.options, p.set_name, p.entries
    url, name, split, part, xv, yv = p.url, p.name, p.split, p.part, p.xv, p.yv
    out = Path(o.out)
    net = network_of(cfg)
    net.load_state_dict(upgrade_state_dict(net, load_checkpoint(model_file)["state_dict"]))
    net.eval()
    bits, fmt = cfg.hardware.bits, cfg.hardware.weight_format
    ranges = calibrate(net, part.x_train, bits)
    space = Space(net, xv, yv, split.n_classes, cfg.train.loss, ranges, bits, fmt, entries,
                  cache_mb=o.cache_mb)
    log.info("explore: %d layers x %d multipliers (%s), %d validation samples",
             len(space.names), len(entries), ", ".join(e.label for e in entries), len(xv))
    points = walk.uniform(space)
    sens = walk.sensitivity(space)
    points += walk.greedy(space, sens)
    log.info("explore: uniform and greedy, %d candidates at %.1f a minute", space.evaluations,
             60 * space.evaluations / max(space.seconds, 1e-9))
    if o.search:
        warm = [p.assignment for p in walk.front([p for p in points])]
        points += walk.search(space, study_name=name, url=url, trials=o.trials,
                              minutes=o.minutes, seed=o.seed + o.worker,
                              population=o.population, warm=warm, worker=o.worker)
    exact_acc = next(p.accuracy for p in points if p.source == "uniform"
                     and p.assignment == space.uniform(space.exact))
    chosen = choose(points, exact_acc, o.budget_points)
    unmet = unmet_budgets(chosen, points, space, exact_acc)
    measured = measure(chosen, space, net, part, cfg, o, ranges)
    summary = write(out, space, points, chosen, measured, sens, exact_acc, {"unmet": unmet,
        "model": str(model_file), "knobs": set_name, "study": name if o.search else None,
        "storage": url if o.search else None, "options": asdict(o),
        "seconds": round(time.perf_counter() - started, 1),
        "candidates": space.evaluations,
        "candidates_per_minute": round(60 * space.evaluations / max(space.seconds, 1e-9), 1),
        "cache": None if space.cache is None else {"hits": space.cache.hits,
                                                   "misses": space.cache.misses}})
    return summary


def choose(points, exact_acc: float, budgets: list[float]) -> dict:
    """{(source, budget): the lowest-power point of that source within `budget` points of
    the exact network's validation accuracy}."""
    out = {}
    for b in budgets:
        for source in walk.sources(points):
            ok = [p for p in points if p.source == source and p.accuracy >= exact_acc - b / 100]
            out[source, b] = min(ok, key=lambda p: (p.power, -p.accuracy))
    return out


def unmet_budgets(chosen: dict, points, space, exact_acc: float) -> list[str]:
    """A line per budget that only the all-exact network meets, naming the closest point."""
    exact = space.uniform(space.exact)
    out = []
    for b in dict.fromkeys(b for _, b in chosen):
        if all(p.assignment == exact for (s, bb), p in chosen.items() if bb == b):
            best = max((p for p in points if p.assignment != exact), key=lambda p: p.accuracy)
            out.append(f"budgets: no assignment cheaper than exact stays within {b:g} points; "
                       f"the closest loses {100 * (exact_acc - best.accuracy):.2f} points at "
                       f"compute power {best.power:.3f} ({best.source})")
            log.warning("explore: %s", out[-1])
    return out


def measure(chosen: dict, space, net, part: Split, cfg, o: ExploreOptions, ranges) -> dict:
    """Per distinct chosen assignment: test accuracy, and after pas retraining (when
    o.retrain_epochs) validation and test accuracy."""
    from ..methods import pas
    from ..methods.base import Context

    out = {}
    for p in dict.fromkeys(p.assignment for p in chosen.values()):
        knob = space.knob("candidate", p)
        r = {"test_accuracy": _test(net, knob, part, cfg, ranges)}
        if o.retrain_epochs:
            tuned = copy.deepcopy(net)
            m = SimpleNamespace(gradient=o.gradient, gradient_window=o.gradient_window)
            ctx = Context(cfg, m, part, torch.Generator().manual_seed(cfg.seed))
            pas.train_for(tuned, ctx, knob, o.retrain_epochs, o.retrain_lr or cfg.train.lr,
                          1.0, "retrain")
            tuned.eval()
            r_ranges = calibrate(tuned, part.x_train, space.bits)
            plan = make_plan(tuned, knob, space.bits, r_ranges,
                             weight_format=cfg.hardware.weight_format)
            val = evaluate_test(tuned, space.x, space.y, plan, cfg.train.loss, space.n_classes)
            r["retrained_val_accuracy"] = float(val.accuracy[0])
            r["retrained_test_accuracy"] = _test(tuned, knob, part, cfg, r_ranges)
        out[p] = r
    return out


def _test(net, knob, part: Split, cfg, ranges) -> float:
    plan = make_plan(net, knob, cfg.hardware.bits, ranges,
                     weight_format=cfg.hardware.weight_format)
    m = evaluate_test(net, part.x_test, part.y_test, plan, cfg.train.loss, part.n_classes)
    return float(m.accuracy[0])
