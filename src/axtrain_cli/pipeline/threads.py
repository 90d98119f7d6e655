"""How many torch threads a run uses (`threads`): the cores this process may use, less
the ones other processes keep busy for threads=auto (/proc/stat)."""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("axtrain")


def busy_cores(cores: set[int], seconds: float = 0.1) -> float | None:
    """How many of `cores` other processes keep busy now (this one sleeps while it is
    measured): /proc/stat's per-CPU busy time over `seconds`; None where it cannot be read."""
    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *ticks = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                    t = [int(v) for v in ticks]
                    out[int(name[3:])] = (sum(t), t[3] + (t[4] if len(t) > 4 else 0))
        return out

    try:
        a = sample()
        time.sleep(seconds)
        b = sample()
    except (OSError, ValueError, IndexError):
        return None
    busy = 0.0
    for c in a.keys() & b.keys():
        total, idle = b[c][0] - a[c][0], b[c][1] - a[c][1]
        busy += (total - idle) / total if total > 0 else 0.0
    return busy


def choose_threads(setting) -> tuple[int, str]:
    """(torch threads, why) for the `threads` setting: a number as given; null, the cores
    this process may use (its CPU affinity; the same count whatever else runs, so the same
    command gives the same bytes: convolutions round differently with another thread
    count), warning when other processes keep some of them busy; auto, those cores less
    the ones other processes keep busy when it starts (faster on a loaded machine)."""
    cores = os.sched_getaffinity(0)
    if isinstance(setting, int):
        if setting > len(cores):
            log.warning("threads=%d is more than the %d cores this process may use: expect it "
                        "to run slower, not faster", setting, len(cores))
        return setting, "threads=" + str(setting)
    busy = busy_cores(cores)
    if setting == "auto":
        n = max(1, min(len(cores), round(len(cores) - (busy or 0.0))))
        return n, (f"threads=auto: {len(cores)} cores, {busy:.1f} kept busy by other "
                   "processes" if busy is not None else f"threads=auto: {len(cores)} cores")
    if busy is not None and round(len(cores) - busy) < len(cores):
        log.warning("other processes keep %.1f of the %d cores this process may use busy: "
                    "threads=auto (or threads=N) would use fewer threads and run faster (its "
                    "results may differ in rounding from a run with %d threads)", busy,
                    len(cores), len(cores))
    return len(cores), "the cores this process may use"
