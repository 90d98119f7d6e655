"""`axtrain reproduce profile=quick|paper`: the paper's whole grid, then the report.

The grid is three Hydra multiruns ("arms") over the six applications, each with the
profile's schedules (`+experiment=<profile>`, conf/experiment/*.yaml):

  main       method = bp, act                                  (figures 4, 6, 7, 8, 9)
  axtrain    method = axtrain from main's act network          (figures 6, 7, 9)
  pas        method = pas at `pas_knob` (K1)                   (figure 4)
  approxann  method = approxann from main's bp / act networks, at each knob of
             `approxann_knobs` (K1,K2), one multirun per reading of its "2 %"
             (`approxann_constraints`, default accuracy; accuracy,error for both: the
             accuracy jobs' dir names carry no method.constraint)  (figures 8, 9)

`networks=DIR` skips the main arm's training: it evaluates the bp and act networks of an
earlier reproduction in DIR (DIR/main/dataset=<d>,method=<m>,seed=<s>/model.pt, the names
a reproduction without extra overrides writes) on this run's knobs, e.g. the paper's
networks on another multiplier family (`knobs=truncation networks=reproduce/paper`).

Job dirs are named by their overrides, so a rerun with the same arguments resumes:
finished jobs (a results.csv in their dir) are skipped. `jobs=N` runs N jobs in
parallel with the joblib launcher (each pinned to its share of the cores).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ..paper import ARMS, DATASETS, LONGEST_FIRST, PROFILES, SEEDS, UNNAMED, job_dirname
from .messages import fail


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """key=value arguments (profile=, out=, jobs=, datasets=, seeds=, arms=, pas_knob=,
    approxann_knobs=, approxann_constraints=, networks=); anything else is passed to every job as a
    Hydra override (e.g. knobs=my_set to run the grid on your own knobs)."""
    p = argparse.ArgumentParser(prog="axtrain reproduce", description=__doc__.splitlines()[0])
    p.add_argument("args", nargs="*", help="profile=quick|paper out=DIR jobs=N "
                   "datasets=a,b seeds=0,1 arms=main,pas,approxann pas_knob=K1 "
                   "approxann_knobs=K1,K2 approxann_constraints=accuracy,error networks=DIR "
                   "[hydra overrides]")
    ns = p.parse_args(argv)
    opts = {"profile": "quick", "out": None, "jobs": "1", "datasets": ",".join(DATASETS),
            "seeds": None, "arms": ",".join(ARMS), "pas_knob": "K1", "approxann_knobs": "K1,K2",
            "approxann_constraints": "accuracy", "networks": None}
    extra = []
    for a in ns.args:
        key, sep, value = a.partition("=")
        if sep and key in opts:
            opts[key] = value
        else:
            extra.append(a)
    if opts["profile"] not in PROFILES:
        fail(f"profile={opts['profile']!r}: allowed {', '.join(PROFILES)}")
    for name in opts["datasets"].split(","):
        if name not in DATASETS:
            fail(f"datasets: {name!r} is not one of {', '.join(DATASETS)}")
    for name in opts["arms"].split(","):
        if name not in ARMS:
            fail(f"arms: {name!r} is not one of {', '.join(ARMS)}")
    for name in opts["approxann_constraints"].split(","):
        if name not in ("accuracy", "error"):
            fail(f"approxann_constraints: {name!r} is not one of accuracy, error")
    if not re.fullmatch(r"[0-9]+", opts["jobs"]) or int(opts["jobs"]) < 1:
        fail(f"jobs={opts['jobs']!r}: allowed an integer >= 1")
    if opts["networks"] is not None:
        allowed = "allowed the out dir of an earlier reproduction, with the main arm in arms"
        net = Path(opts["networks"]).expanduser()
        if not opts["networks"] or not (net / "main").is_dir():
            fail(f"networks={opts['networks']!r}: {allowed} (it has no main/ dir)")
        if "main" not in opts["arms"].split(","):
            fail(f"networks={opts['networks']!r} with arms={opts['arms']}: {allowed}")
        _quotable("networks", opts["networks"], net, allowed + ", its path")
        opts["networks"] = str(net)
    opts["out"] = Path(opts["out"] or f"reproduce/{opts['profile']}")
    _quotable("out", str(opts["out"]), opts["out"], "allowed a path")
    from ..errors import ConfigError
    from .checks import writable_dir

    try:  # before any arm: a folder that cannot be written is one line
        writable_dir(str(opts["out"]), "out")
    except ConfigError as e:
        fail(str(e))
    opts["seeds"] = opts["seeds"] or SEEDS[opts["profile"]]
    return argparse.Namespace(**opts), extra


def _quotable(key: str, value: str, path: Path, allowed: str) -> None:
    """The later arms name model.pt files below `path` in quoted Hydra values (`_model_pt`):
    its absolute form must hold no quote, backslash or ${."""
    if re.search(r"['\\]|\$\{", str(path.resolve())):
        fail(f"{key}={value!r}: {allowed} without quotes, backslashes or ${{")


def main_checkpoint(o: argparse.Namespace, method: str, extra: list[str]) -> str:
    """The model.pt of the main arm's job for `method` with the same dataset, seed and
    extra overrides (Hydra interpolations fill in the dataset and seed)."""
    task = [ln for ln in extra if not ln.lstrip("+~").startswith("hydra")]
    return _model_pt(o.out, ["dataset=${dataset.name}", "seed=${seed}", f"method={method}",
                             *task])


def network_checkpoint(networks: str) -> str:
    """The model.pt in `networks` (an earlier reproduction) of a main-arm job's dataset,
    method and seed."""
    return _model_pt(Path(networks),
                     ["dataset=${dataset.name}", "seed=${seed}", "method=${method.name}"])


def _model_pt(root: Path, lines: list[str]) -> str:
    """The model.pt of the main-arm job named by the overrides `lines` in the reproduction
    dir `root`, as one quoted Hydra value (`_quotable` checked `root` can be quoted)."""
    return f"'{(root / 'main').resolve()}/{job_dirname(lines)}/model.pt'"


def multiruns(arms: list[str], o: argparse.Namespace) -> list[tuple[str, str]]:
    """(arm, ApproxANN reading) of each multirun, in order: one per arm, the approxann arm
    one per reading of `approxann_constraints` (a sweep over method.constraint would put
    the key into every job's dir name, and an earlier run's jobs would not be found)."""
    return [(arm, c) for arm in arms
            for c in (dict.fromkeys(o.approxann_constraints.split(","))
                      if arm == "approxann" else ["accuracy"])]


def arm_command(arm: str, o: argparse.Namespace, extra: list[str],
                constraint: str = "accuracy") -> list[str]:
    launcher = ([] if o.jobs == "1" else
                ["hydra/launcher=local_parallel", f"hydra.launcher.n_jobs={o.jobs}"])
    datasets = sorted(o.datasets.split(","), key=LONGEST_FIRST.index)
    return [sys.executable, "-m", "axtrain_cli.cli", "train", "-m",
            f"+experiment={o.profile}", f"dataset={','.join(datasets)}", f"seed={o.seeds}",
            *(a.format(act=main_checkpoint(o, "act", extra),
                       init=main_checkpoint(o, "${method.init}", extra), pas_knob=o.pas_knob,
                       approxann_knobs=o.approxann_knobs) for a in ARMS[arm]),
            # (the default adds nothing, so the job dirs keep their names)
            *([f"method.constraint={constraint}"]
              if arm == "approxann" and constraint != "accuracy" else []),
            *([f"method.checkpoint={network_checkpoint(o.networks)}"]
              if arm == "main" and o.networks else []),
            "resume=true", *extra,
            *launcher,
            f"hydra.sweep.dir={o.out / arm}",
            "hydra.sweep.subdir=${hydra.job.override_dirname}",
            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(UNNAMED)}]"]


def check_arms(arms: list[str], o: argparse.Namespace, extra: list[str]) -> None:
    """Validate every job of every arm before any runs (one line, exit 2): the arms' own
    overrides with the extra ones, less the Hydra settings and the checkpoints that the
    earlier arms will write (those of `networks=` exist already and are checked)."""
    from .sweeps import check_sweep

    for arm, constraint in multiruns(arms, o):
        cmd = arm_command(arm, o, extra, constraint)
        later = ("hydra",) if arm == "main" else ("hydra", "method.checkpoint")
        jobs = [a for a in cmd[cmd.index("train") + 2:] if not a.lstrip("+~").startswith(later)]
        check_sweep(jobs)


def main(argv: list[str]) -> None:
    o, extra = parse(argv)
    start = time.perf_counter()
    failed = []
    arms = o.arms.split(",")
    check_arms(arms, o, extra)
    env = {**os.environ, "AXTRAIN_SKIP_SWEEP_CHECK": "1"}  # checked above; a job whose
    # checkpoint an earlier arm failed to write fails alone, the others run
    runs = multiruns(arms, o)
    for i, (arm, constraint) in enumerate(runs, 1):
        name = arm if arm != "approxann" else f"{arm} ({constraint} constraint)"
        print(f"[reproduce {o.profile}] arm {i}/{len(runs)}: {name} -> {o.out / arm}",
              flush=True)
        t = time.perf_counter()
        code = subprocess.run(arm_command(arm, o, extra, constraint), env=env).returncode
        print(f"[reproduce {o.profile}] arm {name}: exit {code} in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    from ..errors import NoResults
    from ..report import build_report

    try:
        build_report([o.out], o.out / "report")
        where = f"report in {o.out / 'report'}"
    except NoResults as e:
        failed.append(f"report ({e})")
        where = "no report"
    print(f"[reproduce {o.profile}] done in {time.perf_counter() - start:.0f} s; {where}",
          flush=True)
    if failed:
        fail(f"{', '.join(failed)} failed (see the jobs' logs above); rerun the same command "
              "to resume: finished jobs are skipped")
