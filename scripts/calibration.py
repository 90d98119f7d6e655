"""The K -> k calibration study (docs/reproduction.md, "Calibration of K1..K4"): each
method's output error and accuracy loss on DRUM-k, k = 2..8, per application, over seeds.

Runs (paper profile, knob set `drum_k` with D2..D8). BP and act: the networks of a paper
reproduction (`reproduce/paper`), evaluated without training (method.checkpoint):

    ck='reproduce/paper/main/dataset=${dataset.name},method=${method.name},seed=${seed}'
    axtrain train -m +experiment=paper knobs=drum_k method=bp,act seed=0,1,2 \\
        dataset=breast_cancer,ionosphere,image_seg,satimage,mnist_mlp,mnist_cnn \\
        "method.checkpoint='$ck/model.pt'" \\
        'eval.knobs=[exact,D2,D3,D4,D5,D6,D7,D8]' hydra.sweep.dir=calib/frac

AxTrain fine-tunes once per knob; the reproduction's axtrain arm has k = 2..5 (K1..K4), so
only D6..D8 are new (method=axtrain, the act checkpoint, 'eval.knobs=[exact,D6,D7,D8]',
hydra.sweep.dir=calib/axtrain). Then:

    python scripts/calibration.py calib/frac reproduce/paper/axtrain calib/axtrain \\
        --plot docs/calibration.png

prints, per method, application and k, the normalised output error n = loss / the same
network's exact loss (mean over seeds, 95 % t-interval) and the accuracy loss in points;
then per k the averages over the applications, with the share of BP's excess error
(n - 1) that act and AxTrain remove; then applies the rule stated in docs/reproduction.md:
K1 is the largest k at which BP's n is clearly above seed-to-seed noise (interval above
1) on at least half of the applications; K2..K4 are the next three k.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from axtrain_cli.report.common import ci95


def load(dirs: list[Path]) -> pd.DataFrame:
    """Every DRUM row (a compute knob whose multiplier is drum(k=...)) below `dirs`, with its
    k: the D2..D8 knobs of `drum_k`, and also K1..K4 of a reproduction (AxTrain's K1 row comes
    from its network tuned at K1). A (method, dataset, seed, k) seen twice is kept once."""
    files = [f for d in dirs for f in sorted(Path(d).rglob("results.csv"))]
    if not files:
        raise SystemExit(f"calibration: no results.csv under {', '.join(map(str, dirs))}")
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    k = df["multiplier"].str.extract(r"^drum\(k=(\d+)\)$")[0]
    df = df[k.notna() & (df["domain"] == "compute")].copy()
    df["k"] = k[df.index].astype(int)
    df = df.drop_duplicates(["method", "dataset", "seed", "k"])
    df["n"] = df["loss"] / df["exact_loss"]
    df["accuracy_loss"] = 100 * (df["exact_accuracy"] - df["accuracy"])
    return df


def table(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["method", "dataset", "k"])
    t = pd.DataFrame({"n": g["n"].mean(), "n_ci95": g["n"].agg(ci95),
                      "accuracy_loss": g["accuracy_loss"].mean(),
                      "accuracy_loss_ci95": g["accuracy_loss"].agg(ci95),
                      "seeds": g["seed"].nunique()}).reset_index()
    t["clearly_above_1"] = t["n"] - t["n_ci95"] > 1
    return t


def by_k(t: pd.DataFrame) -> pd.DataFrame:
    """Per k: each method's normalised error averaged over the applications, and the share
    of BP's excess error (n - 1) that act / AxTrain remove, from those averages."""
    n = t.pivot_table(index="k", columns="method", values="n", aggfunc="mean")
    for m in [c for c in n.columns if c != "bp"] if "bp" in n.columns else []:
        n[f"{m}_reduction_pct"] = 100 * (1 - (n[m] - 1) / (n["bp"] - 1))
    return n


def choose(t: pd.DataFrame) -> list[int]:
    """K1..K4 by the rule (see the module docstring), from BP's rows."""
    bp = t[t["method"] == "bp"]
    share = bp.groupby("k")["clearly_above_1"].mean()
    k1 = max(k for k, s in share.items() if s >= 0.5)
    return [k1, k1 + 1, k1 + 2, k1 + 3]


def plot(t: pd.DataFrame, path: Path) -> None:
    from axtrain_cli.results.plots import figure, save_png

    order = {"bp": 0, "act": 1, "axtrain": 2}
    methods = sorted(dict.fromkeys(t["method"]), key=lambda m: (order.get(m, 3), m))
    ci = t["n_ci95"].fillna(0)  # one seed: no interval
    low, high = (t["n"] - ci).clip(lower=0.3).min(), (t["n"] + ci).max()
    fig, axes = figure(len(methods), 5.0, 3.6)
    fig.suptitle("BP's output error on DRUM-k relative to exact hardware (mean, 95 % interval "
                 "over seeds)" if methods == ["bp"] else
                 "Output error on DRUM-k relative to exact hardware (95 % interval over seeds)")
    for ax, m in zip(axes, methods):
        for ds, d in t[t["method"] == m].groupby("dataset"):
            ax.errorbar(d["k"], d["n"], yerr=d["n_ci95"], capsize=2, marker="o", ms=3,
                        label=ds)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(title=m, xlabel="DRUM k (bits kept)", ylabel="loss / exact loss", yscale="log",
               ylim=(0.9 * low, 1.1 * high))
    axes[0].legend(fontsize=7)
    save_png(path, fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--plot", type=Path, default=None)
    a = p.parse_args()
    t = table(load(a.dirs))
    pd.set_option("display.width", 200)
    print(t.round(4).to_string(index=False))
    print("\nmean over the applications:")
    print(by_k(t).round(4).to_string())
    if (t["method"] == "bp").any():
        print("\nK1..K4 = DRUM k", ", ".join(map(str, choose(t))))
    if a.plot:
        plot(t, a.plot)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()
