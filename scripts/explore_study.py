"""Where per-layer assignment wins: the compute power at 1 and 2 points of accuracy loss for
the best uniform knob, the greedy per-layer baseline, the NSGA-II search (axtrain explore)
and ApproxANN per neuron, before and after retraining, over several seeds.

For each network and seed: BP on MNIST (float training, 8-bit words at inference), then
`axtrain explore` with the 8-bit library `knobs=explore8` (exact, DRUM k = 2..6,
truncation k = 2..4, Mitchell's multiplier), each multiplier costed by its synthesised
circuit's area (hardware.power_model=area), choosing within each budget on validation data
and retraining each chosen point by pas for one epoch; and ApproxANN (method.knob=K1, DRUM
k = 2, the library's cheapest) under each budget read as points of accuracy. Writes
OUT/explore.csv (a row per seed, network, budget and way) and OUT/explore.md (means
with 95 % t-intervals over seeds, the machine and the command).

Usage: python scripts/explore_study.py --out docs/reference/explore [--seeds 0,1,2]
           [--networks mlp,lenet5,resnet20,hf_vit] [--append]
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib.resources import files
from pathlib import Path

import pandas as pd
import yaml

import axtrain_cli as ax
from axtrain_cli.explore import ExploreOptions, explore, prepare
from axtrain_cli.report.common import ci95
from bench import machine  # scripts/bench.py: the CPU model and usable cores

BUDGETS = (1.0, 2.0)
# explore8 less its table (a table has no circuit to cost), added to the paper's knobs
KNOBS = {k: v for k, v in yaml.safe_load(
    (files("axtrain_cli.conf") / "knobs" / "explore8.yaml").read_text()).items()
    if k not in ("defaults", "t_mitchell")}


def hf_vit(n_classes: int):
    """A model nobody here wrote: a transformers ViT from a small config (nothing
    downloaded), given as a factory (the library builds no `_target_` outside its zoo)."""
    import transformers as T

    return T.ViTForImageClassification(T.ViTConfig(
        image_size=28, patch_size=7, num_channels=1, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, num_labels=n_classes))


# network -> (dataset, topology, train / test samples, BP epochs, validation, search trials)
NETWORKS = {"mlp": ("mnist_mlp", None, (12000, 5000), 5, 2000, 150),
            "lenet5": ("mnist_cnn", None, (12000, 5000), 4, 2000, 200),
            "resnet20": ("mnist_cnn", "resnet20", (3000, 2000), 3, 500, 60),
            "hf_vit": ("mnist_cnn", hf_vit, (12000, 5000), 8, 2000, 150)}
WAYS = {"uniform": "(a) best uniform knob", "greedy": "(b) greedy per layer",
        "search": "(c) NSGA-II search", "approxann": "(d) ApproxANN per neuron"}


def settings(net: str, method, seed: int, epochs: int):
    ds, topo, sizes, *_ = NETWORKS[net]
    s = ax.settings_for({"name": ds, "max_train": sizes[0], "max_test": sizes[1]}, method,
                        topology=topo, hardware="fixed8", seed=seed, knobs=KNOBS,
                        train={"epochs": epochs}, eval={"knobs": ["exact"], "trials": 1},
                        progress="off")
    s.hardware.power_model = "area"  # each multiplier costed by its synthesised circuit
    return s


def run_network(net: str, seed: int, out: Path) -> list[dict]:
    _, _, _, epochs, validation, trials = NETWORKS[net]
    where = out / "runs" / f"{net}_seed{seed}"
    s = settings(net, "bp", seed, epochs)
    if not (where / "bp" / "model.pt").is_file():
        ax.run(s, where / "bp")
    exact_test = float(pd.read_csv(where / "bp" / "results.csv").set_index("knob")
                       .loc["exact", "accuracy"])
    o = ExploreOptions(out=str(where / "explore"), validation=validation, trials=trials,
                       seed=seed, retrain_epochs=1, budgets=",".join(map(str, BUDGETS)))
    summary = explore(prepare(s, where / "bp" / "model.pt", o, "explore8"))
    rows = []
    for c in summary["chosen"]:
        rows.append({"network": net, "seed": seed, "budget": c["budget_points"],
                     "way": c["source"], "compute_power": c["compute_power"],
                     "test_loss_points": 100 * (exact_test - c["test_accuracy"]),
                     "retrained_test_loss_points":
                         100 * (exact_test - c["retrained_test_accuracy"]),
                     "candidates_per_minute": summary["candidates_per_minute"]})
    for b in BUDGETS:
        sa = settings(net, {"name": "approxann", "checkpoint": str(where / "bp" / "model.pt"),
                            "knob": "K1", "max_loss": b}, seed, epochs)
        df = ax.run(sa, where / f"approxann_{b:g}")
        r = df.set_index("knob").loc["approxann_K1"]
        rows.append({"network": net, "seed": seed, "budget": b, "way": "approxann",
                     "compute_power": float(r["compute_power"]), "test_loss_points": None,
                     "retrained_test_loss_points": 100 * (exact_test - float(r["accuracy"]))})
    return rows


def markdown(df: pd.DataFrame, command: str) -> str:
    m = machine()
    import torch

    lines = [f"`{command}` ({m}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}); "
             "compute power "
             "relative to exact multipliers and test accuracy loss (points below the exact "
             "8-bit network), mean ± 95 % t-interval half-width over seeds:", "",
             "| network | budget (points) | way | compute power | test loss before "
             "retraining | after |", "|---|---|---|---|---|---|"]
    for (net, b, way), g in df.groupby(["network", "budget", "way"], sort=False):
        def cell(col):
            v = g[col].dropna()
            return "" if v.empty else f"{v.mean():.3f} ± {ci95(v):.3f}"
        lines.append(f"| {net} | {b:g} | {WAYS[way]} | {cell('compute_power')} | "
                     f"{cell('test_loss_points')} | {cell('retrained_test_loss_points')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--networks", default="mlp,lenet5,resnet20")
    p.add_argument("--append", action="store_true", help="add to OUT/explore.csv")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    csv = a.out / "explore.csv"
    rows = pd.read_csv(csv).to_dict("records") if a.append and csv.is_file() else []
    for net in a.networks.split(","):
        for seed in map(int, a.seeds.split(",")):
            t0 = time.perf_counter()
            rows += run_network(net, seed, a.out)
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{net} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.read_csv(csv)
    order = {w: i for i, w in enumerate(WAYS)}
    df = df.sort_values(["network", "budget", "way"], key=lambda c: c.map(order)
                        if c.name == "way" else c, kind="stable")
    (a.out / "explore.md").write_text(markdown(df, "python " + " ".join(sys.argv)))
    print((a.out / "explore.md").read_text())


if __name__ == "__main__":
    main()
