"""Which backward pass recovers most accuracy when retraining through an approximate
multiplier (method.gradient): pas from the same BP network under each estimator, on 8-bit
multipliers where the straight-through estimator leaves a gap, several seeds.

For each network and seed: BP for --bp-epochs on exact 8-bit fixed point, its accuracy on
every study multiplier (no retraining), then for each multiplier and estimator a copy
retrained by pas for --pas-epochs (the same batch order for every estimator) and its
accuracy there. Writes OUT/gradients.csv (a row per measurement) and OUT/gradients.md
(means with 95 % t-intervals over seeds, the machine and the command).

Usage: python scripts/gradient_study.py --out docs/reference/gradients [--seeds 0,1,2]
           [--networks mlp,lenet5,resnet20] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import axtrain_cli as ax
from axtrain_cli.report.common import ci95
from bench import machine  # scripts/bench.py: the CPU model and usable cores

ESTIMATORS = ("ste", "difference", "slope")
# (knob, its multiplier, what it is)
MULTIPLIERS = {
    "drum2": ({"name": "drum", "k": 2}, "DRUM k = 2 (K1)"),
    "drum3": ({"name": "drum", "k": 3}, "DRUM k = 3 (K2)"),
    "trunc2": ({"name": "truncation", "k": 2}, "truncation to 2 leading bits"),
    "mitchell": ({"name": "mitchell"}, "Mitchell's logarithmic multiplier"),
    "low7": ({"name": "table", "file": "LOW7", "signed": True},
             "a x b with the product magnitude's 7 low bits cleared (table)"),
}
# network -> (dataset, topology, train / test samples (None: all), BP epochs, pas epochs)
NETWORKS = {"mlp": ("mnist_mlp", None, (10000, 2000), 5, 1),
            "lenet5": ("mnist_cnn", None, (5000, 2000), 4, 1),
            "resnet20": ("mnist_cnn", "resnet20", (1000, 500), 3, 1)}


def low7_table(path: Path) -> str:
    """The biased table: a * b with its magnitude's 7 low bits cleared, sign kept."""
    w = np.arange(-128, 128, dtype=np.int64)
    p = w[:, None] * w[None, :]
    t = np.sign(p) * ((np.abs(p) >> 7) << 7)
    order = np.r_[128:256, 0:128]  # row a & 255: words 0..127, then -128..-1
    np.save(path, t[order][:, order].astype(np.int32), allow_pickle=False)
    return str(path)


def settings(net: str, method, seed: int, epochs: int, knobs: dict, eval_knobs: list[str]):
    ds, topo, sizes, *_ = NETWORKS[net]
    data = {} if sizes is None else {"max_train": sizes[0], "max_test": sizes[1]}
    return ax.settings_for({"name": ds, **data}, method, topology=topo, hardware="fixed8",
                           seed=seed, knobs=knobs, train={"epochs": epochs},
                           eval={"knobs": eval_knobs, "trials": 1}, progress="off")


def accuracy(swept) -> dict[str, float]:
    """Accuracy (%) per knob."""
    return (100 * swept.frame.groupby("knob").accuracy.mean()).to_dict()


def run_network(net: str, seeds, args, knobs: dict, out: list[dict]) -> None:
    _, _, _, bp_epochs, pas_epochs = NETWORKS[net]
    if args.quick:
        bp_epochs, pas_epochs = 1, 1
    study = list(MULTIPLIERS)
    for seed in seeds:
        t0 = time.perf_counter()
        s = settings(net, "bp", seed, bp_epochs, knobs, ["exact", *study])
        split = ax.load_data(s)
        bp = ax.train(ax.build_network(s), split, s)
        base = accuracy(ax.sweep(bp, split, s))
        for knob in study:
            for est in ESTIMATORS:
                sp = settings(net, {"name": "pas", "knob": knob, "gradient": est}, seed,
                              pas_epochs, knobs, [knob])
                tuned = ax.train(copy.deepcopy(bp.net), split, sp)
                out.append({"network": net, "seed": seed, "knob": knob,
                            "multiplier": MULTIPLIERS[knob][1], "estimator": est,
                            "accuracy": accuracy(ax.sweep(tuned, split, sp))[knob],
                            "bp_on_knob": base[knob], "bp_exact": base["exact"],
                            "bp_epochs": bp_epochs, "pas_epochs": pas_epochs})
                print(f"{net} seed {seed} {knob} {est}: {out[-1]['accuracy']:.2f} % "
                      f"(BP there {base[knob]:.2f} %, exact {base['exact']:.2f} %)",
                      flush=True)
        print(f"{net} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["network", "knob", "estimator"], sort=False).accuracy
    t = pd.DataFrame({"mean": g.mean(), "ci95": g.apply(ci95), "n": g.size()}).reset_index()
    base = df.groupby(["network", "knob"], sort=False).bp_on_knob.mean().rename("bp")
    return t.merge(base.reset_index(), on=["network", "knob"])


def markdown(df: pd.DataFrame, command: str, appended: bool = False) -> str:
    t = summary(df)
    cell = {(r.network, r.knob, r.estimator): f"{r.mean:.2f} ± {r.ci95:.2f}"
            for r in t.itertuples()}
    lines = [f"Command: `{command}`{' (added to the rows before it)' if appended else ''}; "
             f"{machine()}, "
             f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')}. Accuracy (%) on the test split at the knob, mean "
             "± 95 % t-interval half-width over seeds.", "",
             "| network | multiplier | BP, no retraining | " + " | ".join(ESTIMATORS) + " |",
             "|---|---|---|" + "---|" * len(ESTIMATORS)]
    for (net, knob), r in t.groupby(["network", "knob"], sort=False):
        lines.append(f"| {net} | {MULTIPLIERS[knob][1]} | {r.bp.iloc[0]:.2f} | "
                     + " | ".join(cell[(net, knob, e)] for e in ESTIMATORS) + " |")
    # the same BP network and batch order under each estimator: differences per seed
    wide = df.pivot_table(index=["network", "knob", "seed"], columns="estimator",
                          values="accuracy", sort=False)
    others = [e for e in ESTIMATORS if e != "ste"]
    lines += ["", "Each estimator minus the STE on the same seed (points; mean ± 95 % "
              "t-interval half-width over seeds; the interval excludes 0 where marked *):",
              "", "| network | multiplier | " + " | ".join(others) + " |",
              "|---|---|" + "---|" * len(others)]
    for (net, knob), r in wide.groupby(level=[0, 1], sort=False):
        parts = []
        for e in others:
            d = r[e] - r["ste"]
            h = ci95(d)
            parts.append(f"{d.mean():+.2f} ± {h:.2f}{' *' if abs(d.mean()) > h else ''}")
        lines.append(f"| {net} | {MULTIPLIERS[knob][1]} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--networks", default="mlp,lenet5")
    p.add_argument("--quick", action="store_true", help="one epoch each (a smoke test)")
    p.add_argument("--append", action="store_true",
                   help="keep OUT/gradients.csv's rows and add these networks' to them")
    args = p.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = low7_table(out_dir / "low7.npy")
    knobs = {k: {"multiplier": dict(m, file=table) if m.get("file") == "LOW7" else m}
             for k, (m, _) in MULTIPLIERS.items()}
    csv = out_dir / "gradients.csv"
    rows: list[dict] = pd.read_csv(csv).to_dict("records") if args.append and csv.is_file() \
        else []
    seeds = [int(s) for s in args.seeds.split(",")]
    for net in args.networks.split(","):
        run_network(net, seeds, args, knobs, rows)
        df = pd.DataFrame(rows)
        df.to_csv(csv, index=False)
        command = "python scripts/gradient_study.py " + " ".join(sys.argv[1:])
        (out_dir / "gradients.md").write_text(markdown(df, command, args.append))
    print(markdown(pd.DataFrame(rows), "(this run)"))


if __name__ == "__main__":
    main()
