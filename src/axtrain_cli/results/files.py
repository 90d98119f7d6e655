"""Result rows (the results.csv schema), a run's files committed as one set, checkpoints.

A run first writes all its files into a staging folder inside its dir (a full disk fails
here, leaving an earlier run's set whole), then removes the earlier manifest, renames the
files into place and writes `manifest.json` (every file with its SHA-256) last. A dir is a
complete run only while its manifest matches its files: `resume` skips and `axtrain
report` reads only those."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

SCHEMA_VERSION = 3
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass(frozen=True)
class Measurement:
    """A network measured on one knob (one read of a stochastic memory)."""

    knob: str  # the name evaluated: exact, K1, aggressive, ntv660, approxann_K1, ...
    knob_name: str  # the knob it resolves to (aggressive -> ntv400)
    domain: str  # float | exact | compute | storage | compute+storage
    multiplier: str  # the multiplier model with its parameters, e.g. drum(k=4)
    memory: str  # the memory model with its parameters, e.g. flips(voltage_mv=660, rate=0.01)
    voltage_mv: float | None  # SRAM supply (empty: nominal)
    trial: int  # read (draw, chip) 0..eval.trials-1; 0 for a deterministic knob
    loss: float  # test output error (mean over test samples of train.loss)
    accuracy: float
    exact_loss: float | None  # the same network on exact hardware (fixed point, reliable)
    exact_accuracy: float | None
    deviation: float | None  # output error added by the hardware vs exact fixed point
    compute_power: float  # multiplier power relative to exact multipliers
    storage_power: float  # SRAM power relative to nominal voltage
    figures: Mapping = field(default_factory=dict)  # method-specific extra columns
    # the multiplier's and memory's parameters as columns of their own, e.g. multiplier_k,
    # memory_rate, memory_voltage_mv (knob.parameters)
    parameters: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One line of results.csv: a run's network measured on one knob, with what defines
    the measurement besides the seed (`identity`)."""

    dataset: str
    topology: str  # the network built: its layer widths, or the builder's name
    arch: str  # short hash of its architecture (identity.arch_hash)
    method: str
    seed: int
    epochs: int | None  # epochs the network was trained for (a checkpoint's included)
    bits: int  # the fixed-point word size
    weight_format: str  # the weight word's format (hardware.weight_format)
    train_knob: str  # the knob the network was trained (or fine-tuned) for, else empty
    train_multiplier: str  # ... its multiplier and memory, as in `multiplier`, `memory`
    train_memory: str
    checkpoint: str  # the model.pt the network (or its start) came from, else empty
    setting: str  # short hash of the run's other settings (identity.setting_hash)
    sensitivity: float | None  # S(w) of Eq. 5 on (up to) 2048 test samples
    measurement: Measurement
    figures: Mapping = field(default_factory=dict)  # the method's figures for the run

    def record(self) -> dict:
        run = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("measurement", "figures")}
        m = {f.name: getattr(self.measurement, f.name) for f in _MEASURED}
        return {"schema_version": SCHEMA_VERSION, **run, **m, **self.measurement.parameters,
                **self.figures, **self.measurement.figures}


_MEASURED = [f for f in dataclasses.fields(Measurement) if f.name not in ("figures",
                                                                           "parameters")]
# Column order of results.csv (the table in docs/outputs.md); the methods' extra figures follow.
COLUMNS = ["schema_version", *[f.name for f in dataclasses.fields(Row)
                               if f.name not in ("measurement", "figures")],
           *[f.name for f in _MEASURED]]


def frame(rows: list[Row]) -> pd.DataFrame:
    df = pd.DataFrame([r.record() for r in rows])
    return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MANIFEST = "manifest.json"


def commit_run(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run's files as one set (see the module docstring); files an earlier run left
    that this one does not write are removed. OSError (with the earlier set whole) when the
    files cannot be written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocked = [n for n in [*files, MANIFEST] if (out_dir / n).is_dir()]
    if blocked:
        raise IsADirectoryError(f"{out_dir / blocked[0]} is a folder; the run's {blocked[0]} "
                                "goes there")
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        earlier = read_manifest(out_dir) or {}
        (out_dir / MANIFEST).unlink(missing_ok=True)
        for name in files:
            os.replace(staging / name, out_dir / name)
        for name in set(earlier) - set(files):
            (out_dir / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    atomic_write_text(out_dir / MANIFEST, json.dumps(
        {"schema_version": SCHEMA_VERSION, "files": digests}, indent=1) + "\n")


def read_manifest(run_dir: Path) -> dict[str, str] | None:
    """{file: sha256} of the run in run_dir, or None without a readable manifest."""
    try:
        return dict(json.loads((Path(run_dir) / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def complete(run_dir: Path) -> bool:
    """run_dir holds a whole run: a manifest whose every file is there, unchanged."""
    files = read_manifest(run_dir)
    if not files or "results.csv" not in files:
        return False
    for name, digest in files.items():
        try:
            if hashlib.sha256((Path(run_dir) / name).read_bytes()).hexdigest() != digest:
                return False
        except OSError:
            return False
    return True


def read_config(run_dir: Path) -> dict:
    """The run's resolved config.yaml as a dict ({} if missing or unreadable)."""
    try:
        import yaml

        return yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except Exception:
        return {}


def differences_from(run_dir: Path, cfg) -> list[str] | None:
    """None when run_dir holds no complete run; else how the config it ran differs from
    `cfg` ('key: theirs -> cfg's', `identity.differences`; [] for the same run)."""
    if not complete(run_dir):
        return None
    from .identity import differences

    return differences(read_config(run_dir), cfg)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()


def write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_bytes(path, csv_bytes(df))


def checkpoint_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
