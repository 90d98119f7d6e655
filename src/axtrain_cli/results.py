"""Result files: atomic writes, the results.csv schema."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd
import torch

SCHEMA_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)

# Column order of results.csv (documented in the README); extra method figures follow.
COLUMNS = ["schema_version", "dataset", "topology", "method", "train_knob", "knob", "knob_name",
           "knob_kind", "k", "voltage_mv", "flip_rate", "trial", "seed", "loss", "accuracy",
           "deviation", "compute_power", "storage_power", "sensitivity", "epochs"]


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


def results_frame(rows: list[dict], extra: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    return df[COLUMNS + [c for c in extra if c in df.columns]]
