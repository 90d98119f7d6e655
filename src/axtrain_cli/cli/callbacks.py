"""Multirun read-back: a job's dir named by its overrides, and at the end of a multirun one
table of every job's rows (`<sweep dir>/sweep_results.csv`, with the job's dir in column
`job`). `axtrain report` reads the jobs' own results.csv files, not this table."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from hydra.experimental.callback import Callback

log = logging.getLogger("axtrain")
TABLE = "sweep_results.csv"
MAX_NAME = 80  # longer override lists are cut and given a hash of the whole


def dirname(num, overrides: str) -> str:
    """`N_overrides` for job N (`N` alone without overrides): no '/' (a path value would
    nest folders). Past MAX_NAME characters the longest values are cut (to a few characters
    and `~`) until it fits, so that short settings such as method=act and seed=2 stay
    whole, and a short hash of the whole is added."""
    name = str(overrides).replace("/", "_")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        items = _items(name)
        while len(",".join(items)) > MAX_NAME - 11:
            i = max(range(len(items)), key=lambda j: len(items[j]))
            key, _, value = items[i].partition("=")
            short = f"{key}={value[:max(0, len(value) // 2 - 1)]}~" if len(value) > 2 else None
            if short is None or len(short) >= len(items[i]):  # values cut: cut the key too
                short = items[i][:max(1, len(items[i]) // 2)] + "~"
            if len(short) >= len(items[i]):
                break
            items[i] = short
        name = f"{','.join(items)}_{digest}"
    return f"{num}_{name}" if name else str(num)


def _items(name: str) -> list[str]:
    """Hydra's override_dirname split at its commas, lists and dicts kept whole."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(name):
        depth += (c in "[{") - (c in "]}")
        if c == "," and depth == 0:
            items.append(name[start:i])
            start = i + 1
    return [*items, name[start:]]


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("axtrain_dirname"):
        OmegaConf.register_new_resolver("axtrain_dirname", dirname)


class SweepTable(Callback):
    """Hydra callback: at the end of a multirun, the complete jobs' results.csv in one
    table beside them."""

    def on_multirun_end(self, config, **kwargs) -> None:
        import pandas as pd

        from ..results import complete, write_csv

        root = Path(config.hydra.sweep.dir)
        frames = []
        for f in sorted(root.rglob("results.csv")):
            if complete(f.parent):
                df = pd.read_csv(f)
                df.insert(0, "job", str(f.parent.relative_to(root)))
                frames.append(df)
        if frames:
            write_csv(root / TABLE, pd.concat(frames, ignore_index=True))
            log.info("%d jobs' rows in %s", len(frames), root / TABLE)

