"""`axtrain` console script: subcommands over Hydra, one module each.

`axtrain train [hydra args]` keeps every Hydra feature (overrides, -m multirun, --cfg,
--help listing the groups). Bad values are caught before any work with a one-line error
and exit code 2; an unknown group option gets Hydra's own message listing the options.
This package is the only one that imports Hydra: it composes the config and turns it into
the library's typed settings (`compose.to_settings`).

compose    the composed config, as Settings; config_dir, register_configs
checks     a job's checks before any work (check_job), its output dir, the launcher
sweeps     a multirun's jobs and their checks
messages   Hydra's and OmegaConf's errors as one line
train      axtrain train (the Hydra app, its task)
eval       axtrain eval MODEL.pt (as train overrides)
report     axtrain report
reproduce  axtrain reproduce (the paper's grid: axtrain_cli.paper)
synth      axtrain synth
explore    axtrain explore (axtrain_cli.explore)
resilience axtrain resilience (axtrain_cli.resilience)
callbacks  the multirun's job dir names and its sweep table
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from .callbacks import register_resolvers
from .compose import config_dir
from .messages import EXIT_USAGE, fail

USAGE = """usage: axtrain <command> [args]

commands:
  train      train one method on one dataset and sweep the hardware knobs (Hydra app:
             `axtrain train --help` lists the config groups; -m runs a multirun sweep)
  eval       evaluate a bp or act run's model.pt on the knobs (dataset, topology, seed and
             words from the checkpoint: `axtrain eval MODEL.pt [key=value ...]`)
  report     build the paper's figure tables from run/multirun directories
             (`axtrain report DIR [DIR ...] [--out OUT]`)
  reproduce  run the paper's whole grid, then the report
             (`axtrain reproduce profile=quick|paper [out=DIR] [jobs=N]`)
  synth      synthesise each multiplier of a knob set: gates, transistors, relative area
             and switching power (`axtrain synth [knobs=NAME] [hardware=fixed8] [--out F]`)
  explore    which multiplier in which layer: the Pareto front of accuracy against compute
             power over a knob set's multipliers (`axtrain explore run=DIR knobs=SET`)
  resilience which neurons are fragile: predictors against fault injection
             (`axtrain resilience run=DIR [knob=K1] [rate=0.01]`)

examples:
  axtrain train dataset=mnist_mlp method=bp
  axtrain train -m dataset=breast_cancer,ionosphere,image_seg,satimage method=bp seed=0,1,2
"""

COMMANDS = ("train", "eval", "report", "reproduce", "synth", "explore", "resilience")
register_resolvers()  # also in a parallel or cluster job's process, which imports this module


def main(argv: list[str] | None = None) -> None:
    try:
        single_run = _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as e:
        print(f"axtrain: {e.args[0] if e.args else 'interrupted'}; nothing was half written "
              "and an earlier run's outputs are kept", file=sys.stderr)
        if argv is None:  # the program itself, not a caller's
            # A Ctrl-C that lands inside a string exec (dataclasses, lazy imports such as
            # torch._dynamo) marks itself "unhandled" in CPython 3.11 even once caught here,
            # and the interpreter would then end by SIGINT (-2) instead of exit code 130.
            _exit_now(130)
        raise SystemExit(130) from None
    # A single `axtrain train` run ends through _exit_now (a multirun's launcher workers are
    # left to the interpreter's own shutdown, as are threads a tracker may have started).
    if argv is None and single_run and all(
            t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        _exit_now(0)


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown of torch, scikit-learn and pandas
    (about 0.5 s of a small run's wall time): every file is closed already (outputs are
    written atomically, TensorBoard's writer is closed), the exit handlers run (logging's
    shutdown flushes the log files) and the standard streams are flushed."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def _main(argv: list[str]) -> bool:
    """Run the command; True when it was one `train` run (no multirun, no inspection)."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return False
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .train import train

        return train(rest)
    elif command == "eval":
        from .eval import eval_overrides
        from .train import train

        return train(eval_overrides(rest))
    elif command == "report":
        from .report import main as report_main

        report_main(rest)
    elif command == "reproduce":
        from .reproduce import main as reproduce_main

        reproduce_main(rest)
    elif command == "synth":
        from .synth import main as synth_main

        synth_main(rest)
    elif command == "explore":
        from .explore import main as explore_main

        explore_main(rest)
    elif command == "resilience":
        from .resilience import main as resilience_main

        resilience_main(rest)
    else:
        from ..settings import did_you_mean

        fail(f"unknown command {command!r}: allowed {', '.join(COMMANDS)}"
             f"{did_you_mean(command, COMMANDS)}")
    return False


__all__ = ["COMMANDS", "EXIT_USAGE", "config_dir", "fail", "main"]
