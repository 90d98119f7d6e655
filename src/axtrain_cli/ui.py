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


class RunEstimate:
    """The time left in a whole run: the planned training batches (every phase: act, the
    fine-tunes, the baselines' retraining) at the rate measured so far, and the sweep's
    sample reads (test samples x reads per knob), at their own measured rate once the
    sweep has started, before that at a third of a training sample's time (a forward pass
    of the three of a training step)."""

    def __init__(self, batches: int, batch_size: int, reads: int):
        self.batches, self.batch_size, self.reads = batches, batch_size, reads
        self.done_batches, self.train_time = 0, 0.0
        self.done_reads, self.eval_time = 0, 0.0
        self._last = time.monotonic()

    def _lap(self) -> float:
        now, last = time.monotonic(), self._last
        self._last = now
        return now - last

    def start(self) -> None:
        """Work begins now (the time before, loading and checking, is not counted)."""
        self._last = time.monotonic()

    def trained(self, batches: int = 1) -> None:
        self.done_batches += batches
        self.train_time += self._lap()

    def evaluated(self, reads: int) -> None:
        self.done_reads += reads
        self.eval_time += self._lap()

    def left(self) -> float | None:
        """Seconds left in the run, or None before anything was measured."""
        if not self.done_batches and not self.done_reads:
            return None
        per_batch = self.train_time / self.done_batches if self.done_batches else 0.0
        per_read = (self.eval_time / self.done_reads if self.done_reads
                    else per_batch / max(1, self.batch_size) / 3)
        return (max(0, self.batches - self.done_batches) * per_batch
                + max(0, self.reads - self.done_reads) * per_read)

    def text(self) -> str:
        left = self.left()
        return "" if left is None else f"~{duration(left)} left in the run"


class LogProgress:
    """Progress as log lines, for output that is not a terminal (a file, a cluster log):
    a task's line at most every `interval` seconds, also inside an epoch, and when it ends
    (phase, epochs done of all, the latest description, the batch rate, elapsed, time left
    in the phase and, with a RunEstimate, in the whole run); a task added with every=True
    logs every step (the sweep: one line per knob)."""

    def __init__(self, interval: float = 10.0, estimate: RunEstimate | None = None):
        self.interval, self.tasks, self.estimate = interval, [], estimate

    def add_task(self, description: str, total: int, every: bool = False) -> int:
        now = time.monotonic()
        self.tasks.append({"label": description, "total": total, "done": 0, "start": now,
                           "last": now, "every": every, "text": "", "steps": 0})
        return len(self.tasks) - 1

    def update(self, task: int, advance: float = 1, description: str | None = None,
               steps: int = 0) -> None:
        """Advance `task` (by a fraction of an epoch within one); `steps`: batches done."""
        t, now = self.tasks[task], time.monotonic()
        t["done"] += advance
        t["steps"] += steps
        if description:  # the rich bars' description repeats the label
            t["text"] = description.removeprefix(t["label"]).strip()
        end = t["done"] >= t["total"] - 1e-9
        if not (t["every"] and not steps or end or now - t["last"] >= self.interval):
            return
        t["last"], spent = now, now - t["start"]
        done = t["done"]
        left = spent / done * (t["total"] - done) if done else 0.0
        count = f"{done:.0f}" if abs(done - round(done)) < 1e-9 else f"{done:.2f}"
        rate = f", {t['steps'] / spent:.1f} batches/s" if t["steps"] and spent > 0 else ""
        run = self.estimate.text() if self.estimate is not None and not end else ""
        log.info("%s %s/%d%s%s, %s elapsed%s%s", t["label"], count, t["total"],
                 f": {t['text']}" if t["text"] else "", rate, duration(spent),
                 f", ~{duration(left)} left" if not end else "", f", {run}" if run else "")

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


class BarProgress(Progress):
    """rich bars, with a last line for the whole run's time left (a RunEstimate)."""

    def __init__(self, estimate: RunEstimate | None):
        super().__init__(TextColumn("{task.description:<28}"), BarColumn(),
                         MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                         transient=True)
        self.estimate = estimate
        self._run, self._shown = None, 0.0

    def update(self, task, advance=None, description=None, steps: int = 0, **kw):
        super().update(task, advance=advance, description=description, **kw)
        now = time.monotonic()
        if self.estimate is None or (steps and now - self._shown < 2.0):
            return
        self._shown, text = now, self.estimate.text()
        if text and self._run is None:
            self._run = self.add_task(f"run: {text}", total=None)
        elif text:
            super().update(self._run, description=f"run: {text}")


@contextlib.contextmanager
def progress(mode: str, estimate: RunEstimate | None = None):
    """Progress of epochs and evaluation (add_task, update, advance), or None when off;
    `estimate`: the whole run's time left, shown beside."""
    kind = progress_kind(mode)
    if kind != "on":
        yield LogProgress(estimate=estimate) if kind == "log" else None
        return
    with BarProgress(estimate) as bar:
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
