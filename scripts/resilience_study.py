"""Which predictor ranks neuron resilience best (`axtrain resilience`), on the BP networks of
scripts/explore_study.py (MNIST, 8-bit words), under DRUM k = 2 (K1) and weight bit flips
at 660 mV (rate 0.01), over several seeds.

For each network and seed: resilience() on its model.pt (1,000 validation samples, 5 reads
per neuron for the flips; a stratified sample of neurons where --sample says). Writes
OUT/resilience.csv (a row per network, seed, fault and predictor: Spearman, Kendall with
their bootstrap intervals, the area under the protect-top-k curve) and OUT/resilience.md
(means with 95 % t-intervals over seeds; LRP minus the gradient predictors, paired by seed).

Usage: python scripts/resilience_study.py --runs RUNS --out docs/reference/resilience
           [--seeds 0,1,2] [--networks mlp,lenet5,resnet20] [--sample resnet20=200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from axtrain_cli.report.common import ci95
from axtrain_cli.resilience import ResilienceOptions, resilience
from bench import machine  # scripts/bench.py: the CPU model and usable cores
from explore_study import NETWORKS, settings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True, help="explore_study.py's --out")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--networks", default="mlp,lenet5")
    p.add_argument("--sample", default="resnet20=150", help="net=N,...: neurons injected")
    p.add_argument("--validation", type=int, default=1000, help="validation samples")
    p.add_argument("--reads", type=int, default=5, help="reads per neuron (flips)")
    p.add_argument("--append", action="store_true")
    a = p.parse_args()
    samples = dict(kv.split("=") for kv in a.sample.split(",") if kv)
    a.out.mkdir(parents=True, exist_ok=True)
    csv = a.out / "resilience.csv"
    rows = pd.read_csv(csv).to_dict("records") if a.append and csv.is_file() else []
    for net in a.networks.split(","):
        for seed in map(int, a.seeds.split(",")):
            t0 = time.perf_counter()
            cfg = settings(net, "bp", seed, NETWORKS[net][3])
            model = a.runs / "runs" / f"{net}_seed{seed}" / "bp" / "model.pt"
            o = ResilienceOptions(out=str(a.out / "runs" / f"{net}_seed{seed}"), seed=seed,
                                  sample=int(samples[net]) if net in samples else None,
                                  validation=a.validation, reads=a.reads)
            s = resilience(cfg, model, o)
            rows += [{"network": net, "seed": seed, "seconds": s["seconds"],
                      "neurons": s["neurons"], **r} for r in s["predictors"]]
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{net} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.read_csv(csv)
    (a.out / "resilience.md").write_text(markdown(df, "python " + " ".join(sys.argv)))
    print((a.out / "resilience.md").read_text())


def markdown(df: pd.DataFrame, command: str) -> str:
    import torch

    def cell(v):
        return f"{v.mean():.3f} ± {ci95(v):.3f}"

    lines = [f"`{command}` ({machine()}, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')}); mean ± 95 % t-interval half-width over seeds "
             f"(seeds: {', '.join(map(str, sorted(df.seed.unique())))}):", "",
             "| network | fault | predictor | Spearman | Kendall | protect-top-k area |",
             "|---|---|---|---|---|---|"]
    for (net, fault, pred), g in df.groupby(["network", "fault", "predictor"], sort=False):
        lines.append(f"| {net} | {fault} | {pred} | {cell(g.spearman)} | {cell(g.kendall)} | "
                     f"{cell(g.auc)} |")
    lines += ["", "LRP minus the gradient predictors, Spearman, paired by seed (* where the "
              "interval excludes 0):", "", "| network | fault | LRP rule | minus | difference |",
              "|---|---|---|---|---|"]
    wide = df.pivot_table(index=["network", "fault", "seed"], columns="predictor",
                          values="spearman").reset_index()
    for (net, fault), g in wide.groupby(["network", "fault"], sort=False):
        for rule in ("lrp_epsilon", "lrp_zplus"):
            for base in ("approxann", "axnn", "sensitivity"):
                d = g[rule] - g[base]
                star = " *" if abs(d.mean()) > ci95(d) else ""
                lines.append(f"| {net} | {fault} | {rule} | {base} | {cell(d)}{star} |")
    secs = df.groupby("network").seconds.mean()
    lines += ["", "Seconds per analysis (mean over seeds): " + ", ".join(
        f"{n} {v:.0f} s" for n, v in secs.items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
