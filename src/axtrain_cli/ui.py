"""Progress and summaries: rich bars on a terminal, log lines otherwise; summary tables."""

from __future__ import annotations

import contextlib
import logging
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
log = logging.getLogger("axtrain")


class LogProgress:
    """Progress as log lines, for output that is not a terminal (a file, a cluster log):
    a task's line at most every `interval` seconds and when it ends (phase, n/N, the
    latest description, elapsed, estimated time left); a task added with every=True
    logs every step (the sweep: one line per knob)."""

    def __init__(self, interval: float = 10.0):
        self.interval, self.tasks = interval, []

    def add_task(self, description: str, total: int, every: bool = False) -> int:
        now = time.monotonic()
        self.tasks.append({"label": description, "total": total, "done": 0, "start": now,
                           "last": now, "every": every, "text": ""})
        return len(self.tasks) - 1

    def update(self, task: int, advance: int = 1, description: str | None = None) -> None:
        t, now = self.tasks[task], time.monotonic()
        t["done"] += advance
        if description:  # the rich bars' description repeats the label
            t["text"] = description.removeprefix(t["label"]).strip()
        if not (t["every"] or t["done"] >= t["total"] or now - t["last"] >= self.interval):
            return
        t["last"], spent = now, now - t["start"]
        left = spent / t["done"] * (t["total"] - t["done"]) if t["done"] else 0.0
        log.info("%s %d/%d%s, %s elapsed%s", t["label"], t["done"], t["total"],
                 f": {t['text']}" if t["text"] else "", duration(spent),
                 f", ~{duration(left)} left" if t["done"] < t["total"] else "")

    def advance(self, task: int, advance: int = 1) -> None:
        self.update(task, advance)


def duration(seconds: float) -> str:
    """3.2 s, 2 min 5 s, 1 h 4 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s} s" if m < 60 else f"{m // 60} h {m % 60} min"


def progress_kind(mode: str) -> str | None:
    """on: rich bars; log: log lines; auto: bars on a terminal, log lines otherwise."""
    if mode == "auto":
        return "on" if sys.stderr.isatty() else "log"
    return None if mode == "off" else mode


@contextlib.contextmanager
def progress(mode: str):
    """Progress of epochs and evaluation (add_task, update, advance), or None when off."""
    kind = progress_kind(mode)
    if kind != "on":
        yield LogProgress() if kind == "log" else None
        return
    bar = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    with bar:
        yield bar


def summary(df, title: str, paper: dict | None = None) -> Table:
    """One line per network and knob of a results frame: the network (the knob it was
    trained or tuned for), n evaluations (reads of a stochastic memory), mean and std of
    accuracy, the same network's accuracy on exact hardware, mean loss, relative compute
    and storage power. `paper`: {knob name: (multiplier label, memory label)} of the paper's
    knobs; a knob whose definition differs (or that the paper does not have) is named by
    its multiplier and memory in a `hardware` column."""
    groups = list(df.groupby(["train_knob", "knob"], sort=False, dropna=False))
    hardware = [_hardware(d, knob, paper) for (_, knob), d in groups]
    table = Table(title=title, caption="network: the knob it was trained or tuned for; "
                  "on exact: the same network's accuracy on exact hardware"
                  + ("; hardware: where a knob is not the paper's" if any(hardware) else ""))
    cols = ["network", "knob", *(["hardware"] if any(hardware) else []), "n", "accuracy",
            "std", "on exact", "loss", "compute", "storage"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("network", "knob", "hardware")
                         else "right")
    for ((network, knob), d), hw in zip(groups, hardware):
        acc, exact = d["accuracy"], d["exact_accuracy"].dropna()
        table.add_row(str(network or "as trained"), str(knob),
                      *([hw] if any(hardware) else []), str(len(d)), f"{acc.mean():.4f}",
                      f"{acc.std(ddof=0):.4f}" if len(d) > 1 else "",
                      f"{exact.mean():.4f}" if len(exact) else "",
                      f"{d['loss'].mean():.5f}", f"{d['compute_power'].iloc[0]:.3f}",
                      f"{d['storage_power'].iloc[0]:.3f}")
    return table


def _hardware(d, knob: str, paper: dict | None) -> str:
    """The knob's multiplier and memory where they are not the paper's knob of that name
    ('' where they are, or for the float network); a reliable memory is left out."""
    if paper is None or not d["multiplier"].iloc[0]:
        return ""
    mult, mem = str(d["multiplier"].iloc[0]), str(d["memory"].iloc[0])
    name = str(d["knob_name"].iloc[0])
    if paper.get(name) == (mult, mem):
        return ""
    return " ".join(p for p in (mult, "" if mem == "reliable" else mem) if p)


def print_table(table: Table) -> None:
    """To stdout; off a terminal at a width that fits the table (rich assumes 80)."""
    Console(width=None if sys.stdout.isatty() else 120).print(table)
