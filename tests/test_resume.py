"""Interrupted training resumes: a run stopped by Ctrl-C after some epochs, rerun with the
same command, gives byte-identical outputs to a run never interrupted."""

import os
import signal
import subprocess
import time

import pytest
import torch
from conftest import AXTRAIN, run_cli

from axtrain_cli.training.resume import FILE

# AxTrain: an act phase with its adaptive gamma, then a pas fine-tune per knob (a fresh
# read of the 660 mV memory at every step: the generators' states matter)
ARGS = ["dataset=breast_cancer", "method=axtrain", "train.epochs=100",
        "method.finetune_epochs=30", "eval.knobs=[exact,K1,ntv660]", "eval.trials=3",
        "train.save_every=0", "progress=off"]


def saved(out):
    """The saved training's finished phases and the current phase (or None)."""
    try:
        state = torch.load(out / FILE, weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return None
    return list(state["done"]), state["current"] and state["current"]["phase"]


@pytest.mark.parametrize("stop_in", ["act#0", "pas@K1#0"])
def test_an_interrupted_training_resumes_to_the_same_results(tmp_path, stop_in):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_cli([*ARGS, f"hydra.run.dir={whole}"], cwd=tmp_path).returncode == 0
    # Ctrl-C as a terminal delivers it (SIGINT at its default disposition in the child)
    p = subprocess.Popen([*AXTRAIN, *ARGS, f"hydra.run.dir={cut}"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(1200):  # until the training is saved inside the phase `stop_in`
            state = saved(cut)
            if state and state[1] == stop_in:
                break
            assert p.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 130 and "continues when the same command runs" in err, err
    assert (cut / FILE).is_file() and not (cut / "results.csv").exists()

    again = run_cli([*ARGS, f"hydra.run.dir={cut}"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    log = (cut / "cli.log").read_text()
    assert f"phase {stop_in} resumes at epoch" in log
    for name in ("results.csv", "history.csv", "sensitivity_map.csv"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (cut / FILE).exists()  # the run is whole: nothing left to resume


def test_a_state_of_another_config_is_not_used(tmp_path):
    out = tmp_path / "run"
    args = ["dataset=breast_cancer", "train.epochs=3", "eval.trials=2", "progress=off",
            f"hydra.run.dir={out}"]
    out.mkdir()
    (out / FILE).write_bytes(b"not a training state")
    r = run_cli(args, cwd=tmp_path)
    assert r.returncode == 0 and "cannot be read" in (out / "cli.log").read_text()
    assert not (out / FILE).exists()


def test_a_long_epoch_is_saved_and_resumed_part_way(tmp_path):
    """With train.save_every shorter than an epoch, the state is saved inside the epoch;
    Ctrl-C then loses only the work since that save, says so, and the rerun continues
    after the saved batch to byte-identical results."""
    args = ["dataset=breast_cancer", "method=act", "train.epochs=2", "train.batch_size=4",
            "train.save_every=0.002", "eval.knobs=[exact,K1]", "progress=off"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_cli([*args, f"hydra.run.dir={whole}"], cwd=tmp_path).returncode == 0
    p = subprocess.Popen([*AXTRAIN, *args, f"hydra.run.dir={cut}"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(1200):  # until a save inside the first epoch
            try:
                state = torch.load(cut / FILE, weights_only=True)
            except (OSError, RuntimeError, EOFError):
                state = None
            if state and state["current"] and state["current"]["inside"]:
                break
            assert p.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 130 and "since its last save are lost" in err, err
    again = run_cli([*args, f"hydra.run.dir={cut}"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ", after its batch" in (cut / "cli.log").read_text()
    for name in ("results.csv", "history.csv"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name

