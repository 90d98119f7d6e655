"""PNG plots of the figure tables (matplotlib, the `plots` extra), in the layout of the
paper's figures: one panel per knob (or domain), grouped bars per dataset, the legend
outside the bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..results.plots import figure, save_png
from .common import FIG

LABELS = {"bp": "BP", "act": "AxTrain-act", "pas": "AxTrain-pas", "axtrain": "AxTrain",
          "approxann": "ApproxANN"}
TITLES = {"fig6_multiplier_error": "Fig. 6: output error with approximate multipliers, "
                                   "relative to exact hardware",
          "fig7_ntv_accuracy": "Fig. 7: accuracy with near-threshold SRAM",
          "fig8_approxann_multipliers": "Fig. 8: multipliers ApproxANN can approximate",
          "fig9_power": "Fig. 9: lowest power within the allowed degradation"}


def _bars(ax, t, hue, y, err=None, labels=None):
    """Grouped bars: x = dataset, one bar per `hue` value."""
    xs = list(dict.fromkeys(t["dataset"]))
    hues = list(dict.fromkeys(t[hue]))
    width = 0.8 / max(len(hues), 1)
    for i, h in enumerate(hues):
        s = t[t[hue] == h].drop_duplicates("dataset").set_index("dataset").reindex(xs)
        bars = ax.bar(np.arange(len(xs)) + (i - (len(hues) - 1) / 2) * width, s[y], width,
                      yerr=s[err] if err else None, capsize=2, label=LABELS.get(h, h))
        if labels:
            ax.bar_label(bars, labels=s[labels].fillna("").tolist(), fontsize=6, rotation=90,
                         padding=2)
    if labels:
        ax.set_ylim(top=ax.get_ylim()[1] * 1.3)
    ax.set_xticks(np.arange(len(xs)), xs, rotation=30, ha="right", fontsize=8)


def _fig4(t: pd.DataFrame, out: Path) -> list[Path]:
    written = []
    for ds, d in t.groupby("dataset"):
        fig, axes = figure(3, 3.6, 3.4)
        fig.suptitle(f"Fig. 4: last-layer sensitivity, {ds}")
        for ax, m in zip(axes, ["bp", "act", "pas"]):
            img = d[d["method"] == m].pivot(index="row", columns="col", values="relative")
            im = ax.imshow(img.to_numpy(), vmin=0, vmax=1, aspect="auto", cmap="viridis")
            ax.set(title=LABELS[m], xlabel="input neuron (column)")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.yaxis.get_major_locator().set_params(integer=True)
        axes[0].set_ylabel("output neuron (row)")
        fig.colorbar(im, ax=axes, label="relative sensitivity")
        written.append(out / f"fig4_{ds}.png")
        save_png(written[-1], fig)
    return written


def plot_all(tables: dict, out: Path, max_loss: float) -> list[Path]:
    f4 = tables.get(FIG["fig4_sensitivity"])
    written = [] if f4 is None else _fig4(f4, out)
    # error bars: the 95 % interval across seeds (Fig. 7 with one seed: the std over reads)
    specs = [("fig6_multiplier_error", "knob", "method", "normalized_error",
              "normalized_error_ci95", None, "output error / exact"),
             ("fig7_ntv_accuracy", "knob", "method", "accuracy_mean", "accuracy_mean_ci95",
              None, "accuracy"),
             ("fig8_approxann_multipliers", "knob", "init", "approx_fraction",
              "approx_fraction_ci95", None, "approximate multipliers / all"),
             ("fig9_power", "domain", "method", "power", "power_ci95", "knob",
              "relative power")]
    for name, panel, hue, y, err, labels, ylabel in specs:
        t = tables.get(FIG[name])
        if t is None:
            continue
        if name == "fig8_approxann_multipliers":
            inits = ["bp", "act"]
            t = pd.concat([t[["dataset", "knob"]].assign(
                init=f"ApproxANN on {i}", **{y: t[f"{y}_{i}"], err: t.get(f"{y}_{i}_ci95")})
                for i in inits], ignore_index=True)
        if err not in t.columns or t[err].isna().all():
            err = "accuracy_std" if name == "fig7_ntv_accuracy" else None
        if name == "fig9_power":  # a panel per domain and reading of the constraint
            t = t[t["max_loss"] == max_loss]
            t = t.assign(domain=t["domain"] + ", " + t["constraint"].map(
                {"accuracy": f"<= {max_loss:g} points", "error": f"<= {max_loss:g} % error"}))
        panels = list(dict.fromkeys(t[panel]))
        fig, axes = figure(len(panels))
        what = {None: "", "accuracy_std": " (bars: std over reads)"}.get(
            err, " (bars: 95 % interval across seeds)")
        fig.suptitle(TITLES[name] + what)
        for ax, p in zip(axes, panels):
            _bars(ax, t[t[panel] == p], hue, y, err, labels)
            ax.set(title=p, ylabel=ylabel)
            if name == "fig6_multiplier_error":
                ax.axhline(1.0, color="grey", lw=0.8)
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", fontsize=7)
        written.append(out / f"{name.split('_')[0]}.png")
        save_png(written[-1], fig)
    return written
