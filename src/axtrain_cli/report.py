"""`axtrain report DIR [DIR ...]`: the AxTrain paper's figure tables (and plots) from run dirs.

Every `results.csv` found under the inputs (at any depth) is loaded into one frame, with
its run dir and ApproxANN's `method.init` (a results column `init`, else the run's
config.yaml) attached. A file with another schema_version or without the required
columns is skipped with a warning. Cells shared by several runs (seeds) are averaged:
per seed first (over NTV draws and repeated runs), then over seeds.

Tables (CSV) written to OUT (default: first DIR/report), one PNG per figure unless --no-plots:

fig4_sensitivity.csv  last-layer sensitivity maps of BP, act, pas (pas: train_knob K1
    preferred); `relative` = value / max over the three maps of the dataset.
fig6_multiplier_error.csv  output error (loss) at K1..K4 normalised to the same method's
    exact-multiplier loss (per seed, then averaged), for bp/act/axtrain. Readings of the
    paper's "reduces error by X %" (the paper does not say which it means):
      error_reduction_vs_bp_pct = 100 (1 - (n_m - 1) / (n_bp - 1)), the reduction of the
          approximation-induced EXCESS error (n = normalised error; only where n_bp > 1).
          This is our primary reading (the one compared in claims.csv).
      ratio_reduction_vs_bp_pct = 100 (1 - n_m / n_bp), the plain ratio of the bars.
      deviation_reduction_vs_bp_pct = 100 (1 - dev_m / dev_bp), dev = output deviation
          from the same network on exact fixed point (0 at exact by definition).
fig7_ntv_accuracy.csv  accuracy at the aggressive/conservative NTV voltage, mean and
    sample std (ddof=1) pooled over all draws of all seeds; gain of axtrain over bp in
    accuracy points (gain_points = 100 (a_ax - a_bp)) and relative
    (gain_relative_pct = 100 (a_ax / a_bp - 1)); the paper's "+32.10 %" may be either.
fig8_approxann_multipliers.csv  approximate multipliers ApproxANN uses at K1/K2 from a
    BP init vs an act init; increase_pct = 100 (act / bp - 1).
fig9_power.csv  per dataset, method and domain, the lowest-power knob whose mean accuracy
    is within `max_loss` accuracy POINTS of the method's own exact accuracy (the same
    reading as ApproxANN's method.max_loss); rows for --max-loss (2) and --relaxed-loss
    (6, the paper's Satimage case). compute: exact + K1..K4 (compute_power); storage:
    exact + NTV knobs (storage_power); approxann (init=bp preferred): its approxann rows
    or exact, compute only. reduction_* = 100 (1 - power / power_ref).
claims.csv  the paper's headline numbers next to ours; `agrees` = same direction.
runs_summary.csv  every run cell in one table: per dataset, method, init, train_knob and
    knob, the mean (and pooled std) accuracy, loss, deviation and sensitivity S(w)
    (seed_mean), approximate multipliers where ApproxANN reports them. The committed
    reference run (docs/reference/) is compared on this table.

Tables fig6..fig9 have `average` rows (dataset = "average"): the plain mean over datasets of each
value column, percentages included (the mean of the per-dataset reductions/gains/increases,
NaNs skipped), which is what claims.csv compares with the paper's "on average".
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .results import COLUMNS, SCHEMA_VERSION, atomic_write_bytes, write_csv

APPROX_K = ["K1", "K2", "K3", "K4"]
LEVELS = ["aggressive", "conservative"]
STR_COLS = ["dataset", "topology", "method", "train_knob", "knob", "knob_name", "knob_kind",
            "init"]
METHOD_ORDER = ["bp", "act", "pas", "axtrain", "approxann", "axnn"]
LABELS = {"bp": "BP", "act": "AxTrain-act", "pas": "AxTrain-pas", "axtrain": "AxTrain",
          "approxann": "ApproxANN"}
FIG = {k: f"{k}.csv" for k in ("fig4_sensitivity", "fig6_multiplier_error",
                               "fig7_ntv_accuracy", "fig8_approxann_multipliers",
                               "fig9_power", "claims", "runs_summary")}


class NoResults(Exception):
    """No (compatible) results.csv under the inputs."""


class Missing(Exception):
    """A table cannot be built: the message names what is missing."""


# ------------------------------------------------------------------------------ loading
def find_results(inputs: list[Path]) -> list[Path]:
    found: dict[Path, Path] = {}
    for p in map(Path, inputs):
        files = [p] if p.is_file() else sorted(p.rglob("results.csv")) if p.is_dir() else []
        for f in files:
            found.setdefault(f.resolve(), f)
    return list(found.values())


def _method_init(run_dir: Path) -> str:
    path = run_dir / "config.yaml"
    try:
        import yaml

        cfg = yaml.safe_load(path.read_text()) or {}
        return str((cfg.get("method") or {}).get("init") or "")
    except Exception:  # missing or unreadable config: init unknown
        return ""


def load_runs(inputs: list[Path], warn) -> pd.DataFrame:
    """All compatible results.csv rows under `inputs`, with `run_dir` and `init` attached."""
    files = find_results(inputs)
    where = ", ".join(str(p) for p in inputs)
    if not files:
        raise NoResults(f"no results.csv found under {where}")
    frames = []
    for f in files:
        try:
            df = pd.read_csv(f, dtype={c: str for c in STR_COLS})
        except Exception as e:
            warn(f"skipped {f}: unreadable ({' '.join(str(e).split())})")
            continue
        missing = [c for c in COLUMNS if c not in df.columns]
        versions = sorted(set(pd.to_numeric(df.get("schema_version", pd.Series(dtype=float)),
                                            errors="coerce").dropna().astype(int)))
        if "schema_version" in missing or versions != [SCHEMA_VERSION]:
            warn(f"skipped {f}: schema_version {versions or 'missing'}, this report reads "
                 f"schema_version {SCHEMA_VERSION}")
            continue
        if missing:
            warn(f"skipped {f}: missing columns {', '.join(missing)}")
            continue
        for c in STR_COLS:
            df[c] = df[c].fillna("") if c in df.columns else ""
        df["run_dir"] = str(f.parent)
        if not (df["init"] != "").any():
            df["init"] = _method_init(f.parent)
        frames.append(df)
    if not frames:
        raise NoResults(f"no compatible results.csv under {where} "
                        f"({len(files)} skipped, schema_version {SCHEMA_VERSION} needed)")
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- helpers
def seed_mean(d: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    """Mean per seed (over draws and repeated runs), then mean over seeds; + n_seeds."""
    per_seed = d.groupby(keys + ["seed"], dropna=False)[cols].mean().reset_index()
    out = per_seed.groupby(keys, dropna=False)[cols].mean()
    out["n_seeds"] = per_seed.groupby(keys, dropna=False).size()
    return out.reset_index()


def with_average(t: pd.DataFrame, by: list[str], cols: list[str]) -> pd.DataFrame:
    """Append rows dataset="average": the mean over datasets of `cols` per `by` group."""
    avg = t.groupby(by, sort=False)[cols].mean().reset_index()
    avg["dataset"] = "average"
    return pd.concat([t, avg], ignore_index=True)[t.columns]


def _order(t: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    key = {"method": lambda s: s.map({m: i for i, m in enumerate(METHOD_ORDER)}),
           "dataset": lambda s: s.map(lambda v: f"1{v}" if v == "average" else f"0{v}")}
    return t.sort_values(by, key=lambda s: key.get(s.name, lambda x: x)(s),
                         kind="stable").reset_index(drop=True)


def _need(df: pd.DataFrame, methods: list[str], what: str) -> None:
    for m in methods:
        if not (df["method"] == m).any():
            raise Missing(f"no {m} runs{what} (needs method={m})")


def _vs(t: pd.DataFrame, keys: list[str], col: str, method: str) -> np.ndarray:
    """Column `col` of `method`'s row with the same `keys`, aligned to t's rows."""
    ref = t[t["method"] == method].drop_duplicates(keys).set_index(keys)[col]
    return ref.reindex(pd.MultiIndex.from_frame(t[keys])).to_numpy(dtype=float)


# ---------------------------------------------------------------------------- tables
def fig4(df: pd.DataFrame, warn) -> pd.DataFrame:
    runs = df[df["method"].isin(["bp", "act", "pas"])].drop_duplicates("run_dir")
    if runs.empty:
        raise Missing("no bp/act/pas runs (needs method=bp, method=act, method=pas)")
    out, lacking = [], []
    for ds, r in runs.groupby("dataset"):
        pas = r[r["method"] == "pas"]
        if (pas["train_knob"] == "K1").any():
            r = r[(r["method"] != "pas") | (r["train_knob"] == "K1")]
        maps = []
        for m in ["bp", "act", "pas"]:
            files = [Path(d) / "sensitivity_map.csv" for d in r.loc[r["method"] == m, "run_dir"]]
            files = [f for f in files if f.is_file()]
            if not files:
                lacking.append(f"{ds}: {m}")
                break
            mp = pd.concat([pd.read_csv(f) for f in files]).groupby(["row", "col"])["value"]
            mp = mp.mean().reset_index()
            knobs = sorted(set(r.loc[r["method"] == m, "train_knob"]))
            maps.append(mp.assign(dataset=ds, method=m, train_knob="|".join(knobs),
                                  n_runs=len(files)))
        else:
            t = pd.concat(maps, ignore_index=True)
            vmax = t["value"].max()
            t["relative"] = t["value"] / vmax if vmax > 0 else np.nan
            out.append(t)
    if lacking:
        msg = ("no sensitivity map for " + ", ".join(lacking) + " (needs method=bp, act "
               "and pas (approx=K1) runs with sensitivity_map.csv)")
        if not out:
            raise Missing(msg)
        warn(f"{FIG['fig4_sensitivity']}: {msg}")
    t = pd.concat(out, ignore_index=True)
    return t[["dataset", "method", "train_knob", "row", "col", "value", "relative", "n_runs"]]


def fig6(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "act", "axtrain"]) & df["knob"].isin(["exact", *APPROX_K])]
    _need(d, ["bp"], " at exact/K1..K4")
    if not d["method"].isin(["act", "axtrain"]).any():
        raise Missing("no act or axtrain runs at exact/K1..K4 (needs method=act or "
                      "method=axtrain)")
    keys = ["dataset", "method", "seed"]
    per_seed = d.groupby(keys + ["knob"])[["loss", "deviation", "k"]].mean().reset_index()
    exact = per_seed[per_seed["knob"] == "exact"][keys + ["loss"]]
    k = per_seed[per_seed["knob"] != "exact"].merge(exact, on=keys, suffixes=("", "_exact"))
    if k.empty:
        raise Missing("no runs with both exact and K1..K4 rows (needs eval.knobs with "
                      "exact and K1..K4)")
    k["normalized_error"] = k["loss"] / k["loss_exact"]
    t = seed_mean(k, ["dataset", "knob", "method"],
                  ["k", "loss", "loss_exact", "normalized_error", "deviation"])
    t = t.rename(columns={"loss_exact": "exact_loss"})
    n, nb = t["normalized_error"].to_numpy(), _vs(t, ["dataset", "knob"], "normalized_error",
                                                   "bp")
    dev, db = t["deviation"].to_numpy(), _vs(t, ["dataset", "knob"], "deviation", "bp")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["error_reduction_vs_bp_pct"] = np.where(nb > 1, 100 * (1 - (n - 1) / (nb - 1)), np.nan)
        t["ratio_reduction_vs_bp_pct"] = 100 * (1 - n / nb)
        t["deviation_reduction_vs_bp_pct"] = np.where(db > 0, 100 * (1 - dev / db), np.nan)
    t = with_average(t, ["knob", "method"], [c for c in t.columns if c not in
                                             ("dataset", "knob", "method", "n_seeds")])
    return _order(t, ["dataset", "knob", "method"])


def fig7(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "axtrain"]) & df["knob"].isin(LEVELS)]
    _need(d, ["bp", "axtrain"], " at aggressive/conservative NTV")
    t = d.groupby(["dataset", "knob", "method"]).agg(
        voltage_mv=("voltage_mv", "mean"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), n_draws=("accuracy", "size"),
        n_seeds=("seed", "nunique")).reset_index()
    a, ab = t["accuracy_mean"].to_numpy(), _vs(t, ["dataset", "knob"], "accuracy_mean", "bp")
    is_bp = (t["method"] == "bp").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["gain_points"] = np.where(is_bp, np.nan, 100 * (a - ab))
        t["gain_relative_pct"] = np.where(is_bp, np.nan, 100 * (a / ab - 1))
    t = with_average(t, ["knob", "method"], ["voltage_mv", "accuracy_mean", "accuracy_std",
                                             "gain_points", "gain_relative_pct"])
    return _order(t, ["dataset", "knob", "method"])


SUMMARY_KEYS = ["dataset", "method", "init", "train_knob", "knob"]


def runs_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, init, train_knob, knob): seed means of the metrics."""
    cols = ["accuracy", "loss", "deviation", "sensitivity"]
    if "approx_multipliers" in df.columns:
        cols.append("approx_multipliers")
    d = df.copy()
    d["init"] = d["init"].where(d["method"] == "approxann", "")
    t = seed_mean(d, SUMMARY_KEYS, cols)
    stats = d.groupby(SUMMARY_KEYS).agg(accuracy_std=("accuracy", "std"),
                                        n_trials=("accuracy", "size")).reset_index()
    t = t.merge(stats, on=SUMMARY_KEYS)
    return _order(t[SUMMARY_KEYS + ["accuracy", "accuracy_std", *cols[1:], "n_trials",
                                    "n_seeds"]], SUMMARY_KEYS)


def fig8(df: pd.DataFrame) -> pd.DataFrame:
    a = df[(df["method"] == "approxann") & (df["knob_kind"] == "approxann")
           & df["knob_name"].isin(["K1", "K2"])]
    for init in ("bp", "act"):
        if not (a["init"] == init).any():
            raise Missing(f"no approxann runs with init={init} at K1/K2 (needs method=approxann"
                          f" method.init={init} approx=K1,K2)")
    if "approx_multipliers" not in a.columns or a["approx_multipliers"].isna().all():
        raise Missing("approxann rows lack the approx_multipliers column")
    cols = ["approx_multipliers", "total_multipliers", "accuracy"]
    t = seed_mean(a[a["init"].isin(["bp", "act"])], ["dataset", "knob_name", "init"], cols)
    w = t.pivot(index=["dataset", "knob_name"], columns="init",
                values=cols + ["n_seeds"])
    w.columns = [f"{c}_{i}" for c, i in w.columns]
    w = w.reset_index().rename(columns={"knob_name": "knob"})
    w["total_multipliers"] = w[["total_multipliers_bp", "total_multipliers_act"]].mean(axis=1)
    for i in ("bp", "act"):
        w[f"approx_fraction_{i}"] = w[f"approx_multipliers_{i}"] / w["total_multipliers"]
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = 100 * (w["approx_multipliers_act"] / w["approx_multipliers_bp"] - 1)
    w["increase_pct"] = inc.replace([np.inf, -np.inf], np.nan)
    w = w[["dataset", "knob", "total_multipliers", "approx_multipliers_bp",
           "approx_multipliers_act", "approx_fraction_bp", "approx_fraction_act",
           "accuracy_bp", "accuracy_act", "n_seeds_bp", "n_seeds_act", "increase_pct"]]
    w = with_average(w, ["knob"], [c for c in w.columns if c.startswith(("approx", "total",
                                                                          "accuracy", "incr"))])
    return _order(w, ["dataset", "knob"])


DOMAINS = {"compute": (("exact", "drum", "approxann"), "compute_power"),
           "storage": (("exact", "ntv"), "storage_power")}


def fig9(df: pd.DataFrame, losses: list[float], warn) -> pd.DataFrame:
    d = df[df["method"].isin(["bp", "axtrain"])]
    _need(d, ["bp", "axtrain"], "")
    ax = df[(df["method"] == "approxann") & df["knob_kind"].isin(["exact", "approxann"])]
    if (ax["init"] == "bp").any():
        ax = ax[ax["init"] == "bp"]
    elif not ax.empty:
        warn(f"{FIG['fig9_power']}: no approxann runs with init=bp; using init="
             f"{'|'.join(sorted(set(ax['init'])))} for the ApproxANN comparison")
    else:
        warn(f"{FIG['fig9_power']}: no approxann runs (needs method=approxann method.init=bp);"
             f" the ApproxANN comparison is left blank")
    d = pd.concat([d, ax], ignore_index=True)
    d["mode"] = np.where(d["knob_kind"] == "approxann", d["knob"], d["knob_name"])
    c = seed_mean(d, ["dataset", "method", "mode", "knob_kind"],
                  ["accuracy", "compute_power", "storage_power"])
    rows = []
    for (ds, m), g in c.groupby(["dataset", "method"]):
        ex = g[g["knob_kind"] == "exact"]
        if ex.empty:
            continue
        exact_acc = float(ex["accuracy"].mean())
        for domain, (kinds, col) in DOMAINS.items():
            if m == "approxann" and domain == "storage":
                continue
            cand = g[g["knob_kind"].isin(kinds)]
            for ml in losses:
                ok = cand[(exact_acc - cand["accuracy"]) * 100 <= ml + 1e-9]
                best = ok.sort_values([col, "accuracy"], ascending=[True, False]).iloc[0]
                rows.append({"dataset": ds, "method": m, "domain": domain, "max_loss": ml,
                             "knob": best["mode"], "power": best[col],
                             "accuracy": best["accuracy"], "exact_accuracy": exact_acc,
                             "n_seeds": best["n_seeds"]})
    if not rows:
        raise Missing("no bp/axtrain runs with exact rows (needs eval.knobs with exact)")
    t = pd.DataFrame(rows)
    keys, p = ["dataset", "domain", "max_loss"], t["power"].to_numpy(dtype=float)
    t["reduction_vs_bp_pct"] = 100 * (1 - p / _vs(t, keys, "power", "bp"))
    red_ax = 100 * (1 - p / _vs(t, keys, "power", "approxann"))
    t["reduction_vs_approxann_pct"] = np.where(t["method"] == "axtrain", red_ax, np.nan)
    t = with_average(t, ["method", "domain", "max_loss"],
                     ["power", "accuracy", "exact_accuracy", "reduction_vs_bp_pct",
                      "reduction_vs_approxann_pct"])
    t["knob"] = t["knob"].fillna("")
    return _order(t, ["max_loss", "domain", "dataset", "method"])


# ----------------------------------------------------------------------------- claims
def _pick(t, col, **where):
    if t is None:
        return np.nan
    m = np.ones(len(t), dtype=bool)
    for k, v in where.items():
        m &= (t[k] == v).to_numpy()
    vals = t.loc[m, col].dropna()
    return float(vals.iloc[0]) if len(vals) else np.nan


def claims(tables: dict, max_loss: float, relaxed: float) -> pd.DataFrame:
    f6, f7, f8, f9 = (tables.get(FIG[k]) for k in ("fig6_multiplier_error", "fig7_ntv_accuracy",
                                                     "fig8_approxann_multipliers", "fig9_power"))
    rows = []

    def add(claim, fig, paper, ours, direction, note, table):
        note = f"{fig} table not built" if table is None else note
        rows.append({"claim": claim, "figure": fig, "paper_value": paper, "ours": ours,
                     "direction": direction, "agrees": "" if np.isnan(ours) else bool(ours > 0),
                     "note": note})

    paper6 = {"act": [40.77, 34.56, 25.15], "axtrain": [75.61, 58.45, 37.66]}
    for m, vals in paper6.items():
        for k, v in zip(APPROX_K, vals):
            w = dict(dataset="average", knob=k, method=m)
            ratio, dev = (_pick(f6, c, **w) for c in ("ratio_reduction_vs_bp_pct",
                                                      "deviation_reduction_vs_bp_pct"))
            add(f"{m} output error reduction vs BP at {k} (%)", "fig6", v,
                _pick(f6, "error_reduction_vs_bp_pct", **w), f"{m} < bp error",
                f"ours: excess-error reading, mean over datasets; ratio reading {ratio:.2f} %, "
                f"deviation reading {dev:.2f} %", f6)
    for level, v in (("aggressive", 32.10), ("conservative", 8.163)):
        w = dict(dataset="average", knob=level, method="axtrain")
        add(f"axtrain accuracy gain vs BP at {level} NTV (points)", "fig7", v,
            _pick(f7, "gain_points", **w), "axtrain > bp accuracy",
            "ours in accuracy points, mean over datasets", f7)
        add(f"axtrain accuracy gain vs BP at {level} NTV (relative %)", "fig7", v,
            _pick(f7, "gain_relative_pct", **w), "axtrain > bp accuracy",
            "ours relative to BP's accuracy, mean over datasets", f7)
    for k, v in (("K1", 25.51), ("K2", 23.33)):
        add(f"more approximate multipliers with act init vs BP init at {k} (%)", "fig8", v,
            _pick(f8, "increase_pct", dataset="average", knob=k),
            "approxann(act) > approxann(bp) multipliers", "mean over datasets", f8)
    w = dict(dataset="average", method="axtrain", max_loss=max_loss)
    for domain, v in (("compute", 41.57), ("storage", 33.14)):
        add(f"axtrain {domain} power reduction vs BP at {max_loss:g} points loss (%)", "fig9",
            v, _pick(f9, "reduction_vs_bp_pct", domain=domain, **w),
            f"axtrain < bp {domain} power", "mean over datasets", f9)
    add(f"axtrain compute power reduction vs ApproxANN at {max_loss:g} points loss (%)",
        "fig9", 25.73, _pick(f9, "reduction_vs_approxann_pct", domain="compute", **w),
        "axtrain < approxann compute power", "mean over datasets; ApproxANN init=bp", f9)
    w = dict(dataset="satimage", method="axtrain", domain="storage")
    at2 = _pick(f9, "power", max_loss=max_loss, **w)
    at6 = _pick(f9, "power", max_loss=relaxed, **w)
    add(f"satimage axtrain storage power reduction at {relaxed:g} points loss (%)", "fig9",
        27.01, _pick(f9, "reduction_vs_bp_pct", max_loss=relaxed, **w),
        "axtrain < bp storage power",
        f"ours vs BP at {relaxed:g} points; vs axtrain at {max_loss:g} points: "
        f"{100 * (1 - at6 / at2):.2f} % (knob {_knob(f9, relaxed, w)})", f9)
    return pd.DataFrame(rows)


def _knob(t, ml, w):
    if t is None:
        return ""
    m = (t["max_loss"] == ml) & np.logical_and.reduce([t[k] == v for k, v in w.items()])
    return "|".join(t.loc[m, "knob"])


# ------------------------------------------------------------------------------ plots
def _png(path: Path, fig) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _figure(n: int, width: float = 5.0, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, n, i + 1) for i in range(n)]


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
    ax.legend(fontsize=7)


def heatmap_png(path: Path, values: np.ndarray, title: str) -> None:
    """One sensitivity map (rows: output neurons, columns: inputs) as a PNG heatmap."""
    fig, (ax,) = _figure(1, 5.0, 3.6)
    im = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set(title=title, xlabel="input neuron (column)", ylabel="output neuron (row)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.colorbar(im, ax=ax, label="|w| |dO/dw|")
    _png(path, fig)


def plot_all(tables: dict, out: Path, max_loss: float) -> list[Path]:
    written = []
    f4 = tables.get(FIG["fig4_sensitivity"])
    for ds, t in ([] if f4 is None else f4.groupby("dataset")):
        fig, axes = _figure(3, 3.6, 3.4)
        fig.suptitle(f"{ds}: last-layer sensitivity")
        for ax, m in zip(axes, ["bp", "act", "pas"]):
            img = t[t["method"] == m].pivot(index="row", columns="col", values="relative")
            im = ax.imshow(img.to_numpy(), vmin=0, vmax=1, aspect="auto", cmap="viridis")
            ax.set(title=LABELS[m], xlabel="input neuron (column)")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.yaxis.get_major_locator().set_params(integer=True)
        axes[0].set_ylabel("output neuron (row)")
        fig.colorbar(im, ax=axes, label="relative sensitivity")
        written.append(out / f"fig4_{ds}.png")
        _png(written[-1], fig)
    specs = [("fig6_multiplier_error", "knob", APPROX_K, "method", "normalized_error", None,
              None, "output error / exact"),
             ("fig7_ntv_accuracy", "knob", LEVELS, "method", "accuracy_mean", "accuracy_std",
              None, "accuracy"),
             ("fig8_approxann_multipliers", "knob", ["K1", "K2"], "init", "approx_fraction",
              None, None, "approximate multipliers / all"),
             ("fig9_power", "domain", ["compute", "storage"], "method", "power", None, "knob",
              f"relative power (<= {max_loss:g} points loss)")]
    for name, panel, panels, hue, y, err, labels, ylabel in specs:
        t = tables.get(FIG[name])
        if t is None:
            continue
        if name == "fig8_approxann_multipliers":
            t = t.melt(id_vars=["dataset", "knob"], value_vars=["approx_fraction_bp",
                                                                "approx_fraction_act"],
                       var_name="init", value_name=y)
            t["init"] = "ApproxANN on " + t["init"].str.rsplit("_", n=1).str[1]
        if name == "fig9_power":
            t = t[t["max_loss"] == max_loss]
        panels = [p for p in panels if (t[panel] == p).any()]
        fig, axes = _figure(len(panels))
        for ax, p in zip(axes, panels):
            _bars(ax, t[t[panel] == p], hue, y, err, labels)
            ax.set(title=p, ylabel=ylabel)
            if name == "fig6_multiplier_error":
                ax.axhline(1.0, color="grey", lw=0.8)
        written.append(out / f"{name.split('_')[0]}.png")
        _png(written[-1], fig)
    return written


# ------------------------------------------------------------------------------- main
def build_report(inputs: list[Path], out_dir: Path, plots: bool = True, max_loss: float = 2.0,
                 relaxed_loss: float = 6.0) -> dict:
    """Write the figure tables (and plots) for the runs under `inputs` into `out_dir`.

    Returns {"out_dir", "written": [paths], "skipped": {table: reason}, "warnings": [...]}.
    Raises NoResults when no compatible results.csv is found."""
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        print(f"axtrain report: warning: {msg}", file=sys.stderr)

    df = load_runs([Path(p) for p in inputs], warn)
    out_dir = Path(out_dir)
    builders = {"fig4_sensitivity": lambda: fig4(df, warn), "fig6_multiplier_error":
                lambda: fig6(df), "fig7_ntv_accuracy": lambda: fig7(df),
                "fig8_approxann_multipliers": lambda: fig8(df),
                "fig9_power": lambda: fig9(df, sorted({max_loss, relaxed_loss}), warn),
                "runs_summary": lambda: runs_summary(df)}
    tables, skipped, written = {}, {}, []
    for key, build in builders.items():
        try:
            tables[FIG[key]] = build()
        except Missing as e:
            skipped[FIG[key]] = str(e)
            warn(f"{FIG[key]}: {e}")
    if len(tables) > 1:  # runs_summary is always there; claims need a figure table
        tables[FIG["claims"]] = claims(tables, max_loss, relaxed_loss)
    else:
        skipped[FIG["claims"]] = "no figure table could be built"
        warn(f"{FIG['claims']}: no figure table could be built")
    for name, t in tables.items():
        write_csv(out_dir / name, t)
        written.append(out_dir / name)
    if plots and tables:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            warn("matplotlib is not installed: plots skipped (pip install matplotlib)")
        else:
            try:
                written += plot_all(tables, out_dir, max_loss)
            except Exception as e:  # a plot must never cost the tables
                warn(f"plots skipped: {type(e).__name__}: {' '.join(str(e).split())}")
    return {"out_dir": out_dir, "written": written, "skipped": skipped, "warnings": warnings,
            "runs": int(df["run_dir"].nunique())}


def main(argv: list[str] | None = None) -> int:
    """`axtrain report` (argv: the arguments after `report`). Returns 0; exits 2 (SystemExit)
    on a usage error or when no compatible results.csv is found."""
    p = argparse.ArgumentParser(prog="axtrain report",
                                description="Build the AxTrain paper's figure tables from "
                                            "run/multirun directories.")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="run or multirun directories (searched for results.csv at any depth)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DIR/report)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--max-loss", type=float, default=2.0,
                   help="allowed accuracy loss in points for fig9 (default 2.0)")
    p.add_argument("--relaxed-loss", type=float, default=6.0,
                   help="second, relaxed allowed loss for fig9 (default 6.0, paper's Satimage)")
    a = p.parse_args(argv)
    out = a.out or a.dirs[0] / "report"
    try:
        r = build_report(a.dirs, out, plots=not a.no_plots, max_loss=a.max_loss,
                         relaxed_loss=a.relaxed_loss)
    except NoResults as e:
        print(f"axtrain report: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None  # raised, not returned: cli.main ignores the value
    print(f"report: {r['runs']} runs -> {out}")
    for path in r["written"]:
        print(f"  wrote {path.name}")
    for name, why in r["skipped"].items():
        print(f"  skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
