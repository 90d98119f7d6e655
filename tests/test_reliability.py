"""Bad input and faults: a user's pickle is never loaded, a run's files are committed as one
set, Ctrl-C, data files with problems, checkpoints, multiruns, reproduce, trial chunking.
Each class is tried through the real CLI at least once; the many variants in-process."""

from __future__ import annotations

import gzip
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import AXTRAIN, ROOT, TINY, run_cli

from axtrain_cli.data import load_split
from axtrain_cli.errors import DataError
from axtrain_cli.evaluation import inference as ev
from axtrain_cli.pipeline import run
from axtrain_cli.results import complete
from axtrain_cli.results import files as results
from axtrain_cli.training.resume import FILE


def _one_line_exit_2(r, *words):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    for w in words:
        assert w in lines[0], (w, lines[0])


# ------------------------------------------------------------------------------ security
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_users_pickle_is_refused_and_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "mnist.pkl.gz"
    with gzip.open(bad, "wb") as f:
        pickle.dump(_Payload(marker), f)
    r = run_cli([*TINY, "dataset=mnist_mlp", f"dataset.path={bad}",
                 f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    _one_line_exit_2(r, "refusing to unpickle", "IDX", ".npz")
    assert not marker.exists()


@pytest.mark.parametrize("case,expect", [
    ("empty", "holds no images"), ("npy", "not a readable .npz"),
    ("truncated", "not a readable .npz"), ("keys", "expected x (images) and y")])
def test_bad_npz_files(compose_cfg, tmp_path, case, expect):
    path = tmp_path / "d.npz"
    x, y = np.zeros((10, 784), np.uint8), np.arange(10)
    if case == "empty":
        np.savez(path, x=x[:0], y=y[:0])
    elif case == "npy":
        np.save(tmp_path / "d.npy", x)
        (tmp_path / "d.npy").rename(path)
    elif case == "truncated":
        np.savez(path, x=x, y=y)
        path.write_bytes(path.read_bytes()[:300])
    else:
        np.savez(path, images=x, labels=y)
    with pytest.raises(DataError) as e:
        load_split(compose_cfg(["dataset=mnist_mlp", f"dataset.path={path}"]).dataset, 0)
    assert "\n" not in str(e.value) and expect in str(e.value), str(e.value)


def test_user_mnist_as_npz(compose_cfg, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "digits.npz"
    np.savez(path, x=(rng.random((100, 28, 28)) * 255).astype(np.uint8),
             y=np.arange(100) % 10)
    s = load_split(compose_cfg(["dataset=mnist_cnn", f"dataset.path={path}"]).dataset, 0)
    assert s.x_train.shape == (80, 1, 28, 28) and float(s.x_train.max()) <= 1.0
    np.savez(path, x=np.zeros((10, 784)), y=np.array(["a"] * 10, dtype=object))
    with pytest.raises(DataError, match="without pickle"):
        load_split(compose_cfg(["dataset=mnist_mlp", f"dataset.path={path}"]).dataset, 0)


# ----------------------------------------------------------------------------- integrity
def test_a_failed_write_keeps_the_earlier_run(compose_cfg, tmp_path, monkeypatch):
    """A full disk while writing the new files leaves the earlier run whole (the new files
    are staged first); a failure while they are renamed into place leaves no complete run
    (resume reruns it, the report skips it), never a mix labelled complete."""
    out = tmp_path / "run"
    cfg = compose_cfg(["train.epochs=2", "eval.trials=2", "progress=off",
                       "eval.knobs=[exact,K1]"])
    run(cfg, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write, replace = results.atomic_write_bytes, os.replace
    other = compose_cfg(["train.epochs=3", "eval.trials=2", "progress=off",
                         "eval.knobs=[exact,K1]"])

    def full_disk(path, data):
        if path.name == "model.pt":
            raise OSError(28, "No space left on device")
        write(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", full_disk)
    with pytest.raises(OSError):
        run(other, out)
    # the earlier run is whole; beside it the failed run's training, for a rerun to resume
    assert (out / FILE).is_file()
    assert complete(out) and {p.name: p.read_bytes() for p in out.iterdir()
                              if p.name != FILE} == before

    def cut(src, dst):
        if Path(dst).name == "model.pt" and not Path(dst).parent.name.startswith(".staging"):
            raise OSError(5, "Input/output error")  # renaming it into place
        replace(src, dst)

    monkeypatch.undo()
    monkeypatch.setattr(results.os, "replace", cut)
    with pytest.raises(OSError):
        run(other, out)
    assert not complete(out)
    monkeypatch.undo()
    run(cfg, out)
    assert complete(out) and not list(out.glob(".staging-*"))


def test_a_folder_in_the_way_is_one_line_and_keeps_the_earlier_run(tmp_path):
    out = tmp_path / "run"
    assert run_cli([*TINY, "checkpoint=false", f"hydra.run.dir={out}"],
                   cwd=tmp_path).returncode == 0
    (out / "model.pt").mkdir()
    r = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "model.pt is a folder" in lines[0], r.stderr
    assert complete(out)


def test_ctrl_c_is_one_line_exit_130_and_keeps_earlier_outputs(tmp_path):
    out = tmp_path / "run"
    assert run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "cli.log"}
    # Ctrl-C as a terminal delivers it: SIGINT at its default disposition in the child (a
    # test run launched as a background job, `make test &`, hands down SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler)
    p = subprocess.Popen([*AXTRAIN, "progress=off", "train.epochs=100000",
                          f"hydra.run.dir={out}"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = out / "cli.log"
    for _ in range(600):  # until the second run has loaded its data: it is training
        if log.read_text().count("data: Split") >= 2:
            break
        time.sleep(0.1)
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=120)
    finally:
        p.kill()  # no runaway 100,000-epoch run if it did not stop
    assert p.returncode == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err
    # nothing saved yet (the first save comes 5 minutes in): said, with the setting
    assert "of training, none of it saved" in err and "train.save_every=5" in err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "cli.log"}
    assert after == before and complete(out)


# ---------------------------------------------------------------------------- data files
ROW = ",".join(["0.5"] * 30)
TABLES = {
    "empty.csv": ("", "is empty"),
    "binary.csv": (b"\x00\x01\x02" * 100, "binary"),
    "latin1.csv": ("caf\xe9,1\n".encode("latin-1"), "not UTF-8"),
    "text.csv": (f"{ROW},a\n" * 9 + ",".join(["0.5"] * 29) + ",abc,b\n",
                 "line 10, column 30: 'abc' is not a number"),
    "nan.csv": (f"{ROW},a\n{ROW},b\n" + ",".join(["nan"] + ["1"] * 29) + ",a\n",
                "line 3, column 1: 'nan' is not a finite number"),
    "inf.csv": (f"{ROW},a\n" + ",".join(["1"] * 29 + ["inf"]) + ",b\n",
                "line 2, column 30: 'inf' is not a finite number"),
    "ragged_long.csv": (f"{ROW},a\n{ROW},a\n{ROW},1,b\n",
                        "line 3: 32 fields, the first line has 31"),
    "ragged_short.csv": (f"{ROW},a\n\n\n{ROW[4:]},b\n", "line 4: 30 fields, the first line has 31"),
    "empty_cell.csv": (f"{ROW},a\n" + ",".join(["1"] * 5 + [""] + ["1"] * 24) + ",b\n",
                       "line 2, column 6: '' is empty"),
    "no_label.csv": (f"{ROW},a\n{ROW}, \n", "line 2: the label (last field) is empty"),
    "header_only.csv": ("f" + ",f" * 29 + ",label\n", "a header line and no data rows"),
    "one_row.csv": (f"{ROW},a\n{ROW},b\n", "cannot split 2 rows"),
    "one_class.csv": (f"{ROW},a\n" * 50, "same class"),
    "three_labels.csv": (f"{ROW},a\n{ROW},b\n{ROW},c\n" * 10, "3 distinct labels"),
    "columns.csv": ("1,2,3,a\n" * 20, "3 features per row but dataset.input_shape [30]"),
    "huge.csv": (f"{ROW},a\n{ROW},b\n" * 10 + ",".join(["1e300"] * 30) + ",a\n",
                 "overflow float32"),
    "latin1_line.csv": (f"{ROW},a\n{ROW},caf\xe9\n".encode("latin-1"), "line 2: byte"),
}


@pytest.mark.parametrize("name", list(TABLES))
def test_bad_tables_are_one_line_naming_file_and_place(compose_cfg, tmp_path, name):
    text, expect = TABLES[name]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError) as e:
        load_split(compose_cfg([f"dataset.path={path}"]).dataset, 0)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and expect in msg, msg


def test_a_header_blank_lines_and_spaces_are_read(compose_cfg, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 30))
    path = tmp_path / "ok.csv"
    body = "\n\n".join(", ".join(f"{v:.4f}" for v in r) + f", {'yes' if r[0] > 0 else 'no'}"
                       for r in x)
    path.write_text(",".join(f"f{i}" for i in range(30)) + ",label\n" + body + "\n")
    s = load_split(compose_cfg([f"dataset.path={path}"]).dataset, 0)
    assert len(s.x_train) + len(s.x_test) == 60


def test_bad_data_file_through_the_cli(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{ROW},a\n" * 5 + ",".join(["x"] * 30) + ",b\n")
    r = run_cli([*TINY, f"dataset.path={bad}", f"hydra.run.dir={tmp_path / 'run'}"],
                cwd=tmp_path)
    _one_line_exit_2(r, str(bad), "line 6, column 1")
    assert not (tmp_path / "run" / "results.csv").exists()


def _idx(path, dims, payload):
    path.write_bytes(bytes([0, 0, 8, len(dims)]) + np.array(dims, ">u4").tobytes() + payload)


@pytest.mark.parametrize("case,expect", [
    ("truncated", "the file holds"), ("counts", "holds 10 images but"),
    ("magic", "not an unsigned-byte IDX"), ("gzip", "truncated or damaged archive")])
def test_bad_idx_files(compose_cfg, tmp_path, case, expect):
    images, labels = tmp_path / "t-images-idx3-ubyte", tmp_path / "t-labels-idx1-ubyte"
    _idx(images, [10, 28, 28], bytes(10 * 784))
    _idx(labels, [10], bytes(range(10)))
    if case == "truncated":
        _idx(images, [10, 28, 28], bytes(9 * 784))
    elif case == "counts":
        _idx(labels, [12], bytes(12))
    elif case == "magic":
        images.write_bytes(b"\x00\x00\x0d\x03" + images.read_bytes()[4:])
    else:
        images = tmp_path / "t-images-idx3-ubyte.gz"
        with gzip.open(images, "wb") as f:
            f.write(bytes(4 + 12 + 10 * 784))
        images.write_bytes(images.read_bytes()[:-20])
        (tmp_path / "t-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels.read_bytes()))
    with pytest.raises(DataError) as e:
        load_split(compose_cfg(["dataset=mnist_mlp", f"dataset.path={images}"]).dataset, 0)
    assert "\n" not in str(e.value) and expect in str(e.value), str(e.value)


# --------------------------------------------------------------- checkpoints and sweeps
def test_wrong_checkpoint_through_the_cli(tmp_path):
    out = tmp_path / "ion"
    assert run_cli([*TINY, "dataset=ionosphere", f"hydra.run.dir={out}"],
                   cwd=tmp_path).returncode == 0
    r = run_cli([*TINY, "method=pas", f"method.checkpoint={out / 'model.pt'}",
                 f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    _one_line_exit_2(r, "method.checkpoint", "another network's weights", "30-64-64-2")


@pytest.mark.parametrize("args,words", [
    (["-m", "seed=range(0,3"], ["'seed=range(0,3' is not a valid override"]),
    (["train.optimizer=\u0430dam"], ["'train.optimizer=\u0430dam' is not a valid override"]),
    (["hydra.run.dir=/proc/axtrain_nowhere"], ["hydra.run.dir", "create and write"]),
    (["eval.trials=100000000000000000000"], ["eval.trials", "[1, 1000000]"]),
    (["method=act", "method.gamma0=inf"], ["method.gamma0=inf", "finite"]),
    (["-m", "dataset.path=good.csv,bad.csv"], ["job #1 of 2 (dataset.path=bad.csv)",
                                               "bad.csv line 3"]),
])
def test_more_bad_input_through_the_cli(tmp_path, args, words):
    (tmp_path / "good.csv").write_text(f"{ROW},a\n{ROW},b\n" * 10)
    (tmp_path / "bad.csv").write_text(f"{ROW},a\n{ROW},b\n{ROW[3:]},nan,a\n")
    flags = [a for a in args if a == "-m"]
    r = run_cli([*flags, *TINY, *(a for a in args if a != "-m"),
                 f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sw'}"]
                if "hydra.run.dir=/proc/axtrain_nowhere" not in args else [*TINY, *args],
                cwd=tmp_path)
    _one_line_exit_2(r, *words)
    assert not list(tmp_path.rglob("results.csv"))


def test_a_multirun_checks_every_job_before_launching_any(tmp_path):
    r = run_cli(["-m", *TINY, "train.lr=0.001,-1", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                cwd=tmp_path)
    _one_line_exit_2(r, "job #1 of 2 (train.lr=-1)", "no job started", "train.lr")
    assert not list(tmp_path.rglob("results.csv"))


def test_reproduce_checks_before_any_arm(tmp_path):
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "reproduce", "profile=quick",
                        f"out={tmp_path / 'rp'}", "train.epochs=0"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    _one_line_exit_2(r, "train.epochs")
    assert "resume" not in r.stderr and not (tmp_path / "rp").exists()
    bad = tmp_path / "it's"  # the later arms quote paths below out= in Hydra values
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "reproduce", "profile=quick",
                        f"out={bad}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    _one_line_exit_2(r, "out=", "without quotes")
    assert not bad.exists()


# ----------------------------------------------------------------------------- the sweep
def test_trials_run_in_chunks_that_fit(compose_cfg, monkeypatch):
    """Above TRIAL_WORDS stored words the trials run in chunks: every trial is there once,
    numbered in order, with draws that differ between trials."""
    from axtrain_cli.data import load_split
    from axtrain_cli.networks import build_network

    cfg = compose_cfg(["eval.trials=7"])
    torch.manual_seed(0)
    net = build_network(cfg.topology, [30], 2)
    split = load_split(cfg.dataset, 0)
    words = sum(net.word_counts())
    monkeypatch.setattr(ev, "TRIAL_WORDS", 3 * words)
    assert list(ev.trial_chunks(7, words)) == [(0, 3), (3, 3), (6, 1)]
    rows = pd.DataFrame([m.__dict__ for m in ev.sweep(net, split, cfg, ["aggressive"], seed=0)])
    assert rows.trial.tolist() == list(range(7)) and rows.loss.nunique() == 7


def test_resume_skips_only_a_complete_run_of_the_same_config(tmp_path):
    """resume=true over a complete run of another config is one line naming the
    differences, exit 2, before any work, and the run stays; the same config is skipped; a
    rerun without resume says it replaces the run."""
    x = tmp_path / "runs" / "x"
    first = ["method=act", "train.save_every=0", "dataset=breast_cancer", "train.epochs=2",
             "eval.trials=2", "eval.knobs=[exact,K1]", "progress=off", f"hydra.run.dir={x}"]
    assert run_cli(first, tmp_path).returncode == 0
    before = (x / "results.csv").read_bytes()
    t = time.perf_counter()
    r = run_cli(["method=bp", "train.epochs=2", f"hydra.run.dir={x}", "resume=true",
                 "progress=off"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "holds a complete run of another config" in r.stderr
    assert "method.name: act -> bp" in r.stderr and time.perf_counter() - t < 20
    assert (x / "results.csv").read_bytes() == before
    r = run_cli([*first, "resume=true"], tmp_path)
    assert r.returncode == 0 and "complete run of this config, skipping" in r.stdout + r.stderr
    r = run_cli([*first, "eval.knobs=[exact]"], tmp_path)
    assert r.returncode == 0 and "this run replaces it" in r.stdout + r.stderr
    assert (x / "results.csv").read_bytes() != before


def test_a_multirun_rerun_checks_every_job_dir_first(tmp_path):
    sweep = ["-m", "seed=0,1", "dataset=breast_cancer", "train.epochs=1", "progress=off",
             "eval.knobs=[exact]", f"hydra.sweep.dir={tmp_path / 's'}",
             "hydra.sweep.subdir=job${hydra.job.num}"]
    assert run_cli(sweep, tmp_path).returncode == 0
    r = run_cli([*sweep, "train.lr=0.01", "resume=true"], tmp_path)
    assert r.returncode == 2 and "job #0 of 2" in r.stderr and "no job started" in r.stderr
    assert "train.lr: 0.001 -> 0.01" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("args, words", [
    (["dataset=csv", "dataset.path=somedir"], ["dataset.path='somedir' is a folder"]),
    (["dataset=csv", "dataset.path=nothere.csv"], ["is not found (", "/nothere.csv)"]),
    (["dataset=images", "dataset.path=somedir"], ["is a folder", "an .npz file"]),
    (["hydra.searchpath=[file://myconf]", "knobs=mine"],
     ["hydra.searchpath: myconf is not found (", "/myconf)"]),
    (["knobs=library", "knobs.trunc6.multiplier.dorp=3"],
     ["knobs.trunc6.multiplier.dorp: unknown key", "allowed name, k, relative_power"]),
    (["+knobs.OT6={multiplier:{name:truncation,k:6}}", "+knobs.OT6.multiplier.dorp=3"],
     ["dorp=3 is not a parameter of truncation: allowed k, relative_power"]),
], ids=["folder", "relative", "npz-folder", "searchpath", "parameter", "new-knob-parameter"])
def test_paths_and_parameters_that_are_not_there_are_one_line(tmp_path, args, words):
    (tmp_path / "somedir").mkdir()
    r = run_cli(args, cwd=tmp_path)
    _one_line_exit_2(r, *words)
    assert str(tmp_path) in r.stderr or "/" not in words[-1]
