"""Result rows (the results.csv schema), atomic writes, checkpoints."""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

SCHEMA_VERSION = 2
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
    deviation: float | None  # output error added by the hardware vs exact fixed point
    compute_power: float  # multiplier power relative to exact multipliers
    storage_power: float  # SRAM power relative to nominal voltage
    figures: Mapping = field(default_factory=dict)  # method-specific extra columns


@dataclass(frozen=True)
class Row:
    """One line of results.csv: a run's network measured on one knob."""

    dataset: str
    topology: str
    method: str
    seed: int
    epochs: int
    train_knob: str  # the knob the network was trained (or fine-tuned) for, else empty
    sensitivity: float | None  # S(w) of Eq. 5 on (up to) 2048 test samples
    measurement: Measurement
    figures: Mapping = field(default_factory=dict)  # the method's figures for the run

    def record(self) -> dict:
        run = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("measurement", "figures")}
        m = {f.name: getattr(self.measurement, f.name) for f in _MEASURED}
        return {"schema_version": SCHEMA_VERSION, **run, **m, **self.figures,
                **self.measurement.figures}


_MEASURED = [f for f in dataclasses.fields(Measurement) if f.name != "figures"]
# Column order of results.csv (the README's table); the methods' extra figures follow.
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


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_text(path, df.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def save_checkpoint(path: Path, obj: dict) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
