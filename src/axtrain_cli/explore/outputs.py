"""What `axtrain explore` writes (docs/explore.md): points.csv (every evaluated
assignment), pareto.csv (the points on each walk's front, the chosen ones with their test
accuracy, before and after retraining), sensitivity.csv (each layer alone on each
multiplier), knobs/explored.yaml (the chosen points as knobs that `axtrain train` and
`axtrain eval` take), explore.json (the summary) and pareto.png."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import yaml

from ..results import atomic_write_bytes, atomic_write_text
from . import search as walk

log = logging.getLogger("axtrain")


def write(out: Path, space, points, chosen, measured, sens, exact_acc, facts) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    fronts = {s: {p.assignment for p in walk.front([q for q in points if q.source == s])}
              for s in walk.sources(points)}
    names = {a: [] for a in {p.assignment for p in chosen.values()}}
    for (source, b), p in chosen.items():
        names[p.assignment].append(f"{source}_{b:g}pt")
    rows = []
    for p in points:
        chosen_as = [f"{b:g}" for (s, b), q in chosen.items() if s == p.source and q is p]
        rows.append({"source": p.source, "on_front": p.assignment in fronts[p.source],
                     "chosen_for_budget": ",".join(chosen_as),
                     "val_accuracy": p.accuracy, "val_loss": p.loss, "compute_power": p.power,
                     **(measured[p.assignment] if chosen_as else {}), **space.labels(p.assignment)})
    df = pd.DataFrame(rows)
    atomic_write_bytes(out / "points.csv", df.to_csv(index=False).encode())
    pareto = df[df.on_front].drop_duplicates(["source", *[c for c in df if c.startswith("layer:")]])
    atomic_write_bytes(out / "pareto.csv", pareto.to_csv(index=False).encode())
    sens_rows = [{"layer": space.names[i], "multiplier": space.library[j].label,
                  "loss_increase": v[0], "accuracy_drop": v[1]}
                 for (i, j), v in sens.items() if j != space.exact]
    atomic_write_bytes(out / "sensitivity.csv",
                       pd.DataFrame(sens_rows).to_csv(index=False).encode())

    knobs_yaml = {"defaults": ["paper", "_self_"],
                  **{n: space.knob_spec(a) for a, ns in names.items() for n in ns}}
    atomic_write_text(out / "knobs" / "explored.yaml", yaml.safe_dump(knobs_yaml, sort_keys=False))
    summary = {**facts, "exact_val_accuracy": exact_acc,
               "library": [{"knob": e.knob, "multiplier": e.label, "power": e.power}
                           for e in space.library],
               "chosen": [{"knob": f"{s}_{b:g}pt", "source": s, "budget_points": b,
                           "val_accuracy": p.accuracy, "compute_power": p.power,
                           **measured[p.assignment]} for (s, b), p in chosen.items()]}
    atomic_write_text(out / "explore.json", json.dumps(summary, indent=1) + "\n")
    _plot(out / "pareto.png", points, chosen, exact_acc)
    return summary


def _plot(path: Path, points, chosen, exact_acc: float) -> None:
    try:
        from ..results.plots import figure, save_png
    except ImportError:
        return
    try:
        fig, (ax,) = figure(1, 6.0, 4.2)
    except ImportError:
        log.info("explore: no plot (matplotlib is not installed: the `plots` extra)")
        return
    colours = {"uniform": "tab:blue", "greedy": "tab:orange", "search": "tab:green"}
    for s in walk.sources(points):
        ps = [p for p in points if p.source == s]
        ax.scatter([p.power for p in ps], [100 * p.accuracy for p in ps], s=8, alpha=0.3,
                   color=colours.get(s))
        f = walk.front(ps)
        ax.step([p.power for p in f], [100 * p.accuracy for p in f], where="post",
                color=colours.get(s), label=f"{s} (front)")
    for (s, b), p in chosen.items():
        ax.scatter([p.power], [100 * p.accuracy], marker="*", s=90, color=colours.get(s),
                   edgecolor="black", zorder=3)
    ax.axhline(100 * exact_acc, color="grey", lw=0.8, ls=":", label="exact")
    ax.set(xlabel="compute power (relative to exact multipliers)",
           ylabel="validation accuracy (%)", title="accuracy against compute power (*: chosen)")
    ax.legend(fontsize=8)
    save_png(path, fig)
