"""A data file of yours (dataset.path) names and sizes its dataset."""

from __future__ import annotations

import re
from pathlib import Path

from .files import not_a_file, read_table


def resolve_user_data(settings, name_given: bool = False) -> None:
    """A data file of the user's (dataset.path) names and sizes its dataset: the run is
    named after the file unless `name_given` (dataset.name given on the command line); a
    table's input width and number of classes are read from the file where the dataset
    leaves them null (dataset=csv). A width or class count that the dataset sets and the
    file contradicts is caught when the data loads (one line). The settings hold plain
    values already, so interpolations that read dataset.name keep their values."""
    d = settings.dataset
    if d.path is None or str(d.path).strip() == "":
        return
    path = Path(d.path).expanduser()
    if d.source != "cifar10" and (not name_given or not d.name):
        d.name = re.sub(r"[^\w.-]+", "_", path.stem).strip("_") or "data"
    if d.kind == "mnist" or (d.input_shape is not None and d.n_classes is not None):
        return
    if d.kind == "images":
        from .images import image_info

        shape, classes = image_info(path)
        d.input_shape = d.input_shape if d.input_shape is not None else shape
        d.n_classes = d.n_classes if d.n_classes is not None else classes
        return
    if not path.is_file():
        raise not_a_file(d.path, "a data file (comma-separated, the class label last)")
    x, raw, _ = read_table(path)
    if d.input_shape is None:
        d.input_shape = [x.shape[1] + (d.insert_zero_column is not None)]
    if d.n_classes is None:
        d.n_classes = max(len(set(raw)), len(d.labels or []))
