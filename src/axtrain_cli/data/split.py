"""The 80/20 split (stratified, seeded), optional subsamples, and the scaling fitted on the
training part; images and sequences kept in their shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from ..errors import ConfigError, DataError
from .sources import load_arrays

log = logging.getLogger("axtrain")
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
    if ds.augment and x_tr.ndim != 4:
        raise DataError(f"{where}: dataset.augment crops and flips images (N x C x H x W); "
                        f"these are sequences of shape {list(x_tr.shape[1:])}: allowed "
                        "dataset.augment=false")
    top = max(int(y_tr.max()), int(y_te.max()))
    if top >= ds.n_classes:
        raise DataError(f"{where}: label {top} is out of range for dataset.n_classes="
                        f"{ds.n_classes} (labels 0..{ds.n_classes - 1})")
    x_tr, y_tr = _subsample(x_tr, y_tr, ds.max_train, seed,
                            f"{where} with dataset.max_train={ds.max_train}")
    x_te, y_te = _subsample(x_te, y_te, ds.max_test, seed,
                            f"{where} with dataset.max_test={ds.max_test}")
    x_tr, x_te = _scaled(ds, x_tr, x_te, where)

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)

    return Split(t(x_tr), t(y_tr, torch.long), t(x_te), t(y_te, torch.long),
                 int(ds.n_classes), bool(ds.augment))


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
    x_tr, y_tr = _subsample(x_tr, y_tr, ds.max_train, seed,
                            f"{where} with dataset.max_train={ds.max_train}")
    x_te, y_te = _subsample(x_te, y_te, ds.max_test, seed,
                            f"{where} with dataset.max_test={ds.max_test}")
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


def validation_split(split: Split, n: int, seed: int):
    """(the training part less `n` held-out samples (drawn with `seed`), as a Split; the
    held-out x, y): what a search or an analysis judges on, never the test split."""
    if n >= len(split.x_train):
        raise ConfigError(f"validation={n} is out of range: allowed fewer than the "
                          f"{len(split.x_train)} training samples")
    perm = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(seed))
    val, rest = perm[:n], perm[n:]
    part = Split(split.x_train[rest], split.y_train[rest], split.x_test, split.y_test,
                 split.n_classes, split.augment)
    return part, split.x_train[val], split.y_train[val]
