"""Loading run dirs: every results.csv under the inputs, at any depth, in one frame with its
run dir, ApproxANN/AxNN's `method.init` (a results column `init`, else the run's
config.yaml) and its `cell`: what the measurement is besides its seed (IDENTITY; see
`axtrain_cli.results.identity`), so that only rows of one cell are averaged over seeds. Skipped
with a warning: a run whose manifest.json is missing or does not match its files (it was
interrupted while writing; files of schema_version 1 predate manifests and are read,
upgraded), a file with another schema version, missing columns, or a value that is not a
number in a numeric column. Files of schema_version 2 get the identity columns from the
run's config.yaml where it says (the network's architecture hash stays unknown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NoResults, RecostError
from ..hardware.plugin import without_unset
from ..results import COLUMNS, MANIFEST, SCHEMA_VERSION, complete, read_config, read_manifest

STR_COLS = ["dataset", "topology", "arch", "method", "weight_format", "train_knob",
            "train_multiplier", "train_memory", "checkpoint", "setting", "knob", "knob_name",
            "domain", "multiplier", "memory", "init"]
NUMERIC = ["schema_version", "seed", "epochs", "bits", "sensitivity", "voltage_mv", "trial",
           "loss", "accuracy", "exact_loss", "exact_accuracy", "deviation", "compute_power",
           "storage_power"]
# What a row measured besides its seed, dataset, method and knob name: the network, its
# training and settings, the knob's definition. Rows averaged over seeds share all of it.
IDENTITY = ["topology", "arch", "epochs", "bits", "weight_format", "train_multiplier",
            "train_memory", "setting", "multiplier", "memory"]
V1_DOMAIN = {"float": "float", "exact": "exact", "drum": "compute", "ntv": "storage",
             "approxann": "compute", "axnn": "compute"}


def find_results(inputs: list[Path]) -> list[Path]:
    found: dict[Path, Path] = {}
    for p in map(Path, inputs):
        files = [p] if p.is_file() else sorted(p.rglob("results.csv")) if p.is_dir() else []
        for f in files:
            found.setdefault(f.resolve(), f)
    return list(found.values())


def method_init(run_dir: Path) -> str:
    """ApproxANN's and AxNN's method.init from the run's config ('' where unknown)."""
    return str((read_config(run_dir).get("method") or {}).get("init") or "")


def upgrade_v1(df: pd.DataFrame) -> pd.DataFrame:
    """Schema 1 (knob_kind, k, flip_rate) to schema 2 (domain, multiplier, memory)."""
    kind = df["knob_kind"].fillna("")
    k = pd.to_numeric(df["k"], errors="coerce")
    drum = "drum(k=" + k.map(lambda v: f"{v:g}") + ")"
    flips = ("flips(voltage_mv=" + df["voltage_mv"].map(lambda v: f"{v:g}") + ", rate="
             + df["flip_rate"].map(lambda v: f"{v:g}") + ")")
    own = kind.isin(["approxann", "axnn"])  # a method's own measurement: its own knob name
    df = df.assign(domain=kind.map(V1_DOMAIN).fillna(""),
                   multiplier=drum.where(kind.isin(["drum", "approxann"]),
                                         "exact").where(kind != "float", ""),
                   memory=flips.where(kind == "ntv", "reliable").where(kind != "float", ""),
                   knob_name=df["knob"].where(own, df["knob_name"]), schema_version=2,
                   exact_loss=np.nan, exact_accuracy=np.nan)
    return df.drop(columns=["knob_kind", "k", "flip_rate"])


def upgrade_v2(df: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    """Schema 2 to 3: the identity columns, from the run's config.yaml where it is there."""
    from ..results.identity import setting_hash

    cfg = read_config(run_dir)
    hw = cfg.get("hardware") or {}
    return df.assign(arch="", bits=hw.get("bits", np.nan), weight_format=hw.get(
        "weight_format", ""), train_multiplier="", train_memory="", checkpoint="",
        setting=setting_hash(cfg) if cfg else "", schema_version=SCHEMA_VERSION)


def _not_numbers(df: pd.DataFrame) -> str:
    """'' if every numeric column holds numbers (or blanks), else where the first one fails."""
    for c in NUMERIC:
        values = pd.to_numeric(df[c], errors="coerce")
        wrong = values.isna() & df[c].notna()
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            return f"line {row + 2}, column {c}: {df[c].iloc[row]!r} is not a number"
        df[c] = values
    for c, lo, hi in (("loss", 0, np.inf), ("accuracy", 0, 1)):
        wrong = ~df[c].between(lo, hi)
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            return f"line {row + 2}, column {c}: {float(df[c].iloc[row])!r} is not in [{lo}, {hi}]"
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
            df = pd.read_csv(f, dtype={c: str for c in STR_COLS + ["knob_kind"]})
        except Exception as e:
            warn(f"skipped {f}: unreadable ({' '.join(str(e).split())})")
            continue
        versions = sorted(set(pd.to_numeric(df.get("schema_version", pd.Series(dtype=float)),
                                            errors="coerce").dropna().astype(int)))
        legacy = versions == [1] and {"knob_kind", "k", "flip_rate"} <= set(df.columns)
        if legacy:  # written before manifests existed
            df, versions = upgrade_v1(df), [2]
        if versions == [2]:
            df, versions = upgrade_v2(df, f.parent), [SCHEMA_VERSION]
        if versions != [SCHEMA_VERSION]:
            warn(f"skipped {f}: schema_version {versions or 'missing'}, this report reads "
                 f"schema_version {SCHEMA_VERSION} (and 2, 1)")
            continue
        if not legacy and not complete(f.parent):
            why = ("its files do not match it" if read_manifest(f.parent) is not None
                   else "it is missing")
            warn(f"skipped {f}: not a complete run ({MANIFEST}: {why}; the run was "
                 "interrupted while writing, or its files were changed): rerun it")
            continue
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            warn(f"skipped {f}: missing columns {', '.join(missing)}")
            continue
        bad = _not_numbers(df)
        if bad:
            warn(f"skipped {f}: {bad}")
            continue
        for c in STR_COLS:
            df[c] = df[c].fillna("") if c in df.columns else ""
        for c in ("multiplier", "memory", "train_multiplier", "train_memory"):
            df[c] = df[c].map(without_unset)  # earlier versions wrote `param=None`
        df["run_dir"] = str(f.parent)
        if not (df["init"] != "").any():
            df["init"] = method_init(f.parent)
        frames.append(df)
    if not frames:
        raise NoResults(f"no compatible results.csv under {where} "
                        f"({len(files)} skipped, schema_version {SCHEMA_VERSION} needed)")
    df = pd.concat(frames, ignore_index=True)
    df["cell"] = pd.util.hash_pandas_object(df[IDENTITY].astype(str), index=False)
    return df


def run_power_models(df: pd.DataFrame) -> pd.Series:
    """Each row's hardware.power_model, from its run's config.yaml (proxy where unsaid)."""
    models = {d: (read_config(Path(d)).get("hardware") or {}).get("power_model", "proxy")
              for d in df["run_dir"].unique()}
    return df["run_dir"].map(models)


def _multiplier(row: pd.Series):
    """The multiplier of a results row, rebuilt from its `multiplier_*` columns."""
    import dataclasses

    from ..hardware import MULTIPLIERS

    name = str(row["multiplier"]).split("(", 1)[0]
    cls = MULTIPLIERS.get(name)
    spec = {"name": name}
    for f in dataclasses.fields(cls):
        v = row.get(f"multiplier_{f.name}")
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, str) and v in ("None", "True", "False"):
            v = {"None": None, "True": True, "False": False}[v]
        elif isinstance(v, float) and v.is_integer() and f.type in (int, "int"):
            v = int(v)
        spec[f.name] = v
    return MULTIPLIERS.build(spec, int(row["bits"]))


def recost(df: pd.DataFrame, power_model: str) -> pd.DataFrame:
    """The rows with `compute_power` under `power_model` instead of their run's: a layer's
    power is linear in its multiplier's relative power r (exact layers count 1), so
    p' = 1 - (1 - p) (1 - r') / (1 - r) for every row, ApproxANN's partly approximate
    networks included. RecostError (one line) for a multiplier without a circuit or whose
    file is gone."""
    import json

    from ..knobs import reference_circuit

    df = df.copy()
    old = run_power_models(df)
    refs = df["run_dir"].map({d: json.dumps((read_config(Path(d)).get("hardware") or {}).get(
        "cost_reference")) for d in df["run_dir"].unique()})  # relative to the run's own
    has = df["multiplier"].ne("") & df["compute_power"].notna()
    groups = df[has].groupby(["multiplier", "bits", old[has], refs[has]]).groups
    for (label, bits, model, ref), idx in groups.items():
        if model == power_model:
            continue
        if str(label).startswith("layers("):  # one figure per layer: not rebuilt from a row
            raise RecostError(f"--power-model {power_model}: multiplier {label} assigns layers "
                              "their own multipliers: allowed runs with one multiplier per "
                              f"knob, or rerun it with hardware.power_model={power_model}")
        try:
            m = _multiplier(df.loc[idx[0]])
            reference = reference_circuit(json.loads(ref), int(bits))
            r_old = m.power_as(model, int(bits), reference if model != "proxy" else None)
            r_new = m.power_as(power_model, int(bits), reference)
        except ValueError as e:
            raise RecostError(f"--power-model {power_model}: multiplier {label}: {e}") from None
        if r_old < 1:
            p = df.loc[idx, "compute_power"]
            df.loc[idx, "compute_power"] = 1 - (1 - p) * (1 - r_new) / (1 - r_old)
    df["power_model"] = power_model
    return df
