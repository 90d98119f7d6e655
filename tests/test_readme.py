"""Every command the README shows is run here, with smaller schedules appended (a later
override wins in Hydra), so the README cannot go stale silently. The reproduction and the
report it shows are run by the regression stage (tests/test_regression.py), the cluster
sweep up to its submission."""

import os
import sys

import pandas as pd
import pytest
from conftest import ROOT, readme_commands, run_axtrain, run_cli

SMALL = ["train.epochs=1", "eval.trials=2", "dataset.max_train=1500", "dataset.max_test=300",
         "progress=off"]


def commands(kind):
    """The README's train commands of one kind: 'single', 'sweep' (a local multirun) or
    'cluster' (a multirun through another launcher)."""
    out = []
    for argv in readme_commands():
        if argv[0] != "train":
            continue
        multirun = "-m" in argv
        cluster = any(a.startswith("hydra/launcher=") for a in argv)
        if kind == ("cluster" if cluster else "sweep" if multirun else "single"):
            out.append(argv[1:])
    return out


def test_the_readme_shows_each_kind_of_command():
    subcommands = [argv[0] for argv in readme_commands()]
    assert {"train", "reproduce", "report", "synth"} <= set(subcommands)
    assert commands("single") and commands("sweep") and commands("cluster")
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("args", commands("single"), ids=" ".join)
def test_readme_train_command_runs(args, tmp_path):
    extra = ["method.finetune_epochs=1"] if "method=axtrain" in args else []
    r = run_cli([*args, *SMALL, *extra, f"hydra.run.dir={tmp_path}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "results.csv")
    knobs = next((a.split("=", 1)[1].strip("[]").split(",") for a in args
                  if a.startswith("eval.knobs=")), None)
    if knobs:
        assert list(dict.fromkeys(rows.knob)) == knobs


def test_readme_synth_command_runs(tmp_path):
    synth = [argv for argv in readme_commands() if argv[0] == "synth"]
    assert synth
    for argv in synth:
        r = run_axtrain(argv, tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        table = pd.read_csv(tmp_path / "synth.csv")
        assert (table.area > 0).all() and table.loc[table.multiplier == "exact", "area"].item() == 1


@pytest.mark.parametrize("args", commands("sweep"), ids=" ".join)
def test_readme_sweep_runs_every_job(args, tmp_path):
    from axtrain_cli.cli.sweeps import sweep_jobs

    r = run_cli([*args, *SMALL, f"hydra.sweep.dir={tmp_path}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs, _ = sweep_jobs([a for a in args if a != "-m"])
    assert len(jobs) > 1 and len(list(tmp_path.rglob("results.csv"))) == len(jobs)


@pytest.mark.parametrize("args", commands("cluster"), ids=" ".join)
def test_readme_cluster_sweep_is_checked_and_composes_to_its_launcher(args, monkeypatch,
                                                                      tmp_path):
    """Up to the submission: every job passes axtrain's checks (what `axtrain train -m`
    does before launching) and Hydra composes submitit's SLURM launcher with the given
    settings. tests/test_ecosystem.py runs submitit's code path with local processes."""
    from axtrain_cli.cli.compose import compose
    from axtrain_cli.cli.sweeps import check_sweep, sweep_jobs

    overrides = [a for a in args if a != "-m"]
    monkeypatch.setattr(sys, "argv", ["axtrain"])
    bin_dir = tmp_path / "bin"  # a cluster's login node: SLURM's commands on the PATH
    bin_dir.mkdir()
    for name in ("sbatch", "srun"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    jobs, swept = sweep_jobs(overrides)
    assert len(jobs) > 1 and swept
    check_sweep(overrides, (jobs, swept))  # exits 2 on a bad job
    cfg = compose(jobs[0], hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    for a in overrides:
        if a.startswith("hydra.launcher."):
            key, value = a[len("hydra.launcher."):].split("=", 1)
            assert str(launcher[key]) == value


@pytest.mark.parametrize("args", commands("cluster"), ids=" ".join)
def test_the_cluster_sweep_without_slurm_is_one_line(args, tmp_path):
    r = run_cli([*args, "train.epochs=1"], cwd=tmp_path, env_extra={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "hydra/launcher=slurm" in r.stderr and "sbatch and srun" in r.stderr
