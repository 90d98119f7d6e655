"""Terminal output: rich progress bars on a terminal, quiet otherwise; summary tables."""

from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


def progress_enabled(mode: str) -> bool:
    """auto: only when stderr is a terminal (CI logs stay readable)."""
    return mode == "on" or (mode == "auto" and sys.stderr.isatty())


@contextlib.contextmanager
def progress(mode: str):
    """A rich Progress (or None when disabled) for epochs and evaluation."""
    if not progress_enabled(mode):
        yield None
        return
    bar = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    with bar:
        yield bar


def summary(df, title: str) -> Table:
    """One line per knob of a results frame: n evaluations (reads of a stochastic memory),
    mean and std of accuracy, mean loss, relative compute and storage power."""
    g = df.groupby("knob", sort=False)
    table = Table(title=title)
    for col in ("knob", "n", "accuracy", "std", "loss", "compute", "storage"):
        table.add_column(col, justify="left" if col == "knob" else "right")
    for knob, d in g:
        acc = d["accuracy"]
        table.add_row(str(knob), str(len(d)), f"{acc.mean():.4f}",
                      f"{acc.std(ddof=0):.4f}" if len(d) > 1 else "",
                      f"{d['loss'].mean():.5f}", f"{d['compute_power'].iloc[0]:.3f}",
                      f"{d['storage_power'].iloc[0]:.3f}")
    return table


def print_table(table: Table) -> None:
    Console().print(table)
