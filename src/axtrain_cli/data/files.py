"""Reading data files, each problem one line naming the file, the line or column, and what
is wrong: comma-separated tables (features, then the class label), IDX image/label pairs
and .npz arrays. Nothing here unpickles a file."""

from __future__ import annotations

import csv
import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError


def not_a_file(path, allowed: str, key: str = "dataset.path") -> DataError:
    """The one-line error for a data path that is not a file: a folder, something else,
    or nothing there (then with the absolute path a relative one resolved to)."""
    path = Path(path).expanduser()
    if path.is_dir():
        what = "is a folder"
    elif path.exists():
        what = "is not a regular file"
    else:
        where = "" if path.is_absolute() else f" ({path.resolve()})"
        what = f"is not found{where}"
    return DataError(f"{key}={str(path)!r} {what}: allowed {allowed}")


def _text(path: Path) -> str:
    """The file's text; DataError for a missing, empty, binary or non-UTF-8 file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from None
    if not data.strip():
        raise DataError(f"{path} is empty: expected comma-separated rows, features then the "
                        "class label")
    if b"\0" in data[:65536]:
        raise DataError(f"{path} is a binary file, not comma-separated text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"{path} line {line}: byte {e.start} is not UTF-8 text; save the table "
                        "as UTF-8 CSV") from None


def read_table(path: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(features float64 (n, d), raw labels (n,) as strings, line number of each row).

    Comma-separated, the class label last; blank lines are skipped; a first line whose
    feature cells are not all numbers is a header. Every feature must be a finite number
    and every row must have the same number of fields."""
    text = _text(path)
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    numbers = [n for n, _ in lines]
    counts = [len(row) for row in csv.reader(ln for _, ln in lines)]
    for n, count in zip(numbers, counts):
        if count != counts[0]:
            raise DataError(f"{path} line {n}: {count} fields, the first line has {counts[0]} "
                            "(every row: the features, then the label)")
    try:
        df = pd.read_csv(io.StringIO("\n".join(ln for _, ln in lines)), header=None, dtype=str,
                         skipinitialspace=True, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not comma-separated values ({' '.join(str(e).split())})"
                        ) from None
    if df.shape[1] < 2:
        raise DataError(f"{path}: one field per line; expected comma-separated features, then "
                        "the class label")
    header = pd.to_numeric(df.iloc[0, :-1], errors="coerce").isna().any()
    if header:
        df, numbers = df.iloc[1:], numbers[1:]
        if df.empty:
            raise DataError(f"{path} has a header line and no data rows")
    feats = df.iloc[:, :-1]
    x = feats.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = map(int, np.argwhere(bad)[0])
        cell = feats.iat[r, c]
        what = "is empty" if cell == "" else (
            "is not a finite number" if _is_float(cell) else "is not a number")
        raise DataError(f"{path} line {numbers[r]}, column {c + 1}: {cell!r} {what}")
    labels = df.iloc[:, -1].str.strip().to_numpy()
    empty = np.flatnonzero(labels == "")
    if len(empty):
        raise DataError(f"{path} line {numbers[empty[0]]}: the label (last field) is empty")
    return x, labels, numbers


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _open(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: "
                        f"{' '.join(str(e).split()) or 'truncated'}); a truncated or "
                        "damaged archive?") from None


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (optionally gzipped), checked against its own header."""
    data = _open(path)
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise DataError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()}, "
                        "expected 0000080N)")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    size = int(np.prod(shape))
    body = len(data) - 4 - 4 * ndim
    if body != size:
        raise DataError(f"{path}: the header says {' x '.join(map(str, shape))} = {size} "
                        f"bytes of data, the file holds {body} (truncated or padded)")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def read_idx_pair(images: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 784) in [0, 1] and labels from an IDX pair: `images` names the images
    file; the labels file sits next to it with 'images-idx3' replaced by 'labels-idx1'."""
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    if labels == images or not labels.is_file():
        raise DataError(f"no labels file next to {images} (expected {labels.name})")
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1:
        raise DataError(f"{images}: images of shape {list(x.shape)} and labels of shape "
                        f"{list(y.shape)}; expected N x 28 x 28 and N")
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels.name} {len(y)} labels")
    return x.reshape(-1, 784).astype(np.float32) / 255.0, y.astype(np.int64)


def load_npz_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The arrays `x` (at least one sample) and `y` of an .npz, loaded without pickle; a
    file that is no readable .npz, holds object arrays or lacks them is one DataError."""
    if not Path(path).is_file():
        raise not_a_file(path, "an .npz file with arrays x and y (numpy.savez)")
    try:
        with zipfile.ZipFile(path) as z:  # an .npz is a zip of .npy files
            z.testzip()
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as e:  # object arrays need pickle: refused
        raise DataError(f"{path}: {' '.join(str(e).split())} (only plain numeric arrays "
                        "are read, without pickle)") from None
    except Exception as e:  # not a zip, a bad CRC, a truncated member, ...
        raise DataError(f"{path} is not a readable .npz ({type(e).__name__}: "
                        f"{' '.join(str(e).split())}); save it with "
                        "numpy.savez(path, x=images, y=labels)") from None
    if not {"x", "y"} <= set(arrays):
        raise DataError(f"{path} holds arrays {sorted(arrays)}; expected x (images) and y "
                        "(labels)")
    x, y = arrays["x"], arrays["y"]
    if not len(x):
        raise DataError(f"{path}: x holds no images")
    return x, y


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from an .npz with arrays `x` (N x 784 or N x 28 x 28; uint8 0..255
    or floats in [0, 1]) and `y` (N integer labels), loaded without pickle."""
    x, y = load_npz_xy(path)
    if x.ndim not in (2, 3) or x.reshape(len(x), -1).shape[1] != 784 or y.ndim != 1:
        raise DataError(f"{path}: x of shape {list(x.shape)}, y of shape {list(y.shape)}; "
                        "expected N x 784 (or N x 28 x 28) and N")
    if len(x) != len(y):
        raise DataError(f"{path}: {len(x)} images but {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y has dtype {y.dtype}; expected integer class labels")
    x = x.reshape(len(x), 784)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: x must be uint8 (0..255) or finite floats in [0, 1]")
    return x, y.astype(np.int64)
