"""One training run and its inference sweep (what `axtrain train` runs for one job),
callable from a notebook: `run(settings, out_dir)`.

    job       run (every stage) and start (threads, the first log lines)
    stages    load_data, build_network, train, evaluate, write: the run's steps
    checks    complete and validate the settings before any work
    threads   the run's torch threads

Writes into out_dir, at the end and as one set (`results.commit_run`: a failed run leaves
an earlier run's set as it was, an interrupted write leaves no manifest): config.yaml
(resolved), results.csv, history.csv, model.pt, sensitivity_map.csv (+ .png with
matplotlib), manifest.json."""

from __future__ import annotations

import importlib

# name -> the module that holds it: imported when first used, so that the checks before
# any work (pipeline.checks) cost no torch
_WHERE = {"run": "job", "start": "job", "complete": "checks", "validate": "checks",
          "torch_device": "checks", "busy_cores": "threads", "choose_threads": "threads",
          **{name: "stages" for name in ("Swept", "build_network", "evaluate",
                                         "evaluate_trained", "load_data", "run_facts",
                                         "train", "write")}}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
