"""The real CLI in a subprocess: runs, outputs, bad input, reproducibility, multirun."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import AXTRAIN, ROOT, TINY, run_axtrain, run_cli

from axtrain_cli.results import COLUMNS, load_checkpoint


def test_train_writes_outputs_and_summary(tmp_path):
    out = tmp_path / "run"
    r = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    # exact, K1..K4 once each, 2 voltages x 3 draws
    assert df.groupby("knob").size().to_dict() == {
        "exact": 1, "K1": 1, "K2": 1, "K3": 1, "K4": 1, "aggressive": 3, "conservative": 3}
    assert set(df.voltage_mv.dropna()) == {400.0, 660.0}
    assert (df.dataset == "breast_cancer").all() and (df.method == "bp").all()
    assert df.accuracy.between(0, 1).all()
    assert (out / "config.yaml").is_file() and (out / "history.csv").is_file()
    ck = load_checkpoint(out / "model.pt")  # weights_only=True
    assert all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values())
    assert "exact" in r.stdout and "conservative" in r.stdout  # the summary table


def test_same_seed_gives_byte_identical_results(tmp_path):
    outs = [tmp_path / f"r{i}" for i in range(2)]
    for o in outs:
        r = run_cli([*TINY, "seed=0", f"hydra.run.dir={o}"], cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    a, b = ((o / "results.csv").read_bytes() for o in outs)
    assert a == b
    r = run_cli([*TINY, "seed=1", f"hydra.run.dir={tmp_path / 'r2'}"], cwd=tmp_path)
    assert (tmp_path / "r2" / "results.csv").read_bytes() != a


@pytest.mark.parametrize("override,key", [
    ("train.epochs=0", "train.epochs"),
    ("train.lr=0", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("dataset.test_size=1.5", "dataset.test_size"),
    ("train.epochs=abc", "train.epochs"),
    ("train.lr=fast", "train.lr"),
    ("knobs.K1.multiplier.k=20", "knobs.K1.multiplier.k"),
    ("dataset.levels.aggressive=ntv500", "dataset.levels.aggressive"),
])
def test_bad_values_one_line_exit_2_nothing_written(tmp_path, override, key):
    out = tmp_path / "run"
    r = run_cli([*TINY, override, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "allowed" in lines[0], r.stderr
    assert not (out / "results.csv").exists()


def test_unknown_group_option_lists_options(tmp_path):
    r = run_cli(["dataset=mnist_foo", "progress=off"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "mnist_foo" in r.stderr and "breast_cancer" in r.stderr and "satimage" in r.stderr
    assert "did you mean mnist_mlp?" in r.stderr


@pytest.mark.parametrize("args,words", [
    (["mehtod=bp"], ["mehtod: unknown key", "did you mean method?", "allowed dataset"]),
    (["method=act", "method.gama0=0.1"], ["method.gama0: unknown key", "did you mean gamma0?"]),
    (["train.epoch=3"], ["train.epoch: unknown key", "did you mean epochs?"]),
    (["knobs.ntv500={memory:{name:flips,voltage_mv:500,rate:0.05}}"],
     ["knobs.ntv500: no such entry", "'+knobs.ntv500={memory:"]),
    (["method=pas", "method.knob=K9"], ["method.knob='K9' names no knob", "allowed", "K1"]),
    (["train.optimizer=adamw"], ["train.optimizer='adamw' is unknown", "did you mean adam?"]),
    (["train.epochs=abc"], ["train.epochs='abc' is not an integer", "allowed an integer"]),
    (["hydra.run.dir=/proc/x/y"], ["hydra.run.dir='/proc/x/y' is not writable"]),
])
def test_a_mistake_is_one_plain_line_and_costs_no_heavy_import(args, words, tmp_path):
    """Exit 2, one line in plain words naming the key (with the closest valid name for a
    misspelling), before torch, scikit-learn or matplotlib is imported."""
    code = ("import sys\nfrom axtrain_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as e:\n    heavy = {'torch', 'sklearn', 'matplotlib'} & "
            "set(sys.modules)\n    print(e.code, sorted(heavy))")
    r = subprocess.run([sys.executable, "-c", code, "train", *args], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.stdout.strip() == "2 []", (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert "AxConf" not in r.stderr and "Conf'" not in r.stderr  # no internal class names


def test_reproduce_refuses_an_unwritable_out_before_any_arm(tmp_path):
    r = subprocess.run([*AXTRAIN[:-1], "reproduce", "out=/proc/x", "profile=quick"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "out='/proc/x' is not writable" in r.stderr and "arm" not in r.stdout


def test_a_training_split_with_too_few_samples_per_class_warns(tmp_path):
    r = run_cli([*TINY, "dataset.test_size=0.99", f"hydra.run.dir={tmp_path / 'r'}"],
                cwd=tmp_path)
    assert r.returncode == 0
    assert "samples of its smallest class" in (tmp_path / "r" / "cli.log").read_text()


def test_failed_run_keeps_earlier_outputs(tmp_path):
    out = tmp_path / "run"
    assert run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,a\n4,5,6,b\n" * 20)  # 3 features, the topology wants 30
    r = run_cli([*TINY, f"dataset.path={bad}", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert r.returncode == 2 and "features" in r.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    log = "cli.log"  # Hydra's log is appended to, never truncated
    assert after[log].startswith(before.pop(log))
    assert {k: after[k] for k in before} == before


def test_a_run_ends_with_every_stream_and_log_flushed(tmp_path):
    """A single run leaves through os._exit (no interpreter teardown): its summary table,
    its log file and its exit code are all there."""
    out = tmp_path / "run"
    r = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.rstrip().endswith("hardware") and "conservative" in r.stdout
    assert "wrote" in (out / "cli.log").read_text().strip().splitlines()[-1]


def test_help_lists_groups_and_cfg_job(tmp_path):
    r = run_cli(["--help"], cwd=tmp_path)
    assert r.returncode == 0
    for group in ("dataset", "topology", "method", "knobs", "hardware"):
        assert f"{group}:" in r.stdout
    assert "schema" not in r.stdout.split("== Config ==")[0]  # only real options are listed
    r = run_cli(["dataset=satimage", "--cfg", "job"], cwd=tmp_path)
    assert r.returncode == 0 and "36-64-64-7" in r.stdout
    r = run_cli(["hydra/launcher=slurm", "--cfg", "hydra", "-p", "hydra.launcher"],
                cwd=tmp_path)
    assert r.returncode == 0 and "SlurmLauncher" in r.stdout


def test_top_level_usage_and_unknown_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "trian"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "trian" in r.stderr and "did you mean train?" in r.stderr


def _multirun_dirs(root):
    return sorted(p.parent for p in root.rglob("results.csv"))


def test_tiny_multirun_basic_launcher(tmp_path):
    r = run_cli(["-m", *TINY, "dataset=breast_cancer,ionosphere", "eval.knobs=[exact,K1]",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    log = r.stdout + r.stderr  # Hydra's console log is stdout
    assert "job #0 of 2 (dataset=breast_cancer" in log and "job #1 of 2" in log
    dirs = _multirun_dirs(tmp_path / "sweep")
    assert len(dirs) == 2
    got = {pd.read_csv(d / "results.csv").dataset.iloc[0] for d in dirs}
    assert got == {"breast_cancer", "ionosphere"}
    # the job dirs name their overrides; one table of every job's rows at the end
    assert dirs[0].name.startswith("0_dataset=breast_cancer,eval.knobs=[exact,K1]")
    table = pd.read_csv(tmp_path / "sweep" / "sweep_results.csv")
    assert set(table.job) == {d.name for d in dirs} and len(table) == 4


def test_tiny_multirun_joblib_parallel(tmp_path):
    r = run_cli(["-m", *TINY, "seed=0,1", "eval.knobs=[exact]", "hydra/launcher=local_parallel",
                 "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    dirs = _multirun_dirs(tmp_path / "sweep")
    assert len(dirs) == 2
    assert {int(pd.read_csv(d / "results.csv").seed.iloc[0]) for d in dirs} == {0, 1}


def test_regular_install_finds_configs(tmp_path):
    """A plain (non-editable) `pip install .` ships conf/ inside the package."""
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "--target", str(target), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (target / "axtrain_cli" / "conf" / "config.yaml").is_file()
    assert (target / "axtrain_cli" / "conf" / "dataset" / "mnist_cnn.yaml").is_file()
    code = ("import axtrain_cli, axtrain_cli.cli as c, importlib, pkgutil, sys; "
            "assert c.config_dir().startswith(sys.argv[1]), c.config_dir(); "
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages("
            "axtrain_cli.__path__, 'axtrain_cli.') if not m.name.endswith('__main__')]; "
            "c.main(['train', 'dataset=image_seg', '--cfg', 'job'])")
    r = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                       text=True, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "19-64-64-7" in r.stdout


def test_documented_column_table_matches_the_row_type():
    """docs/outputs.md's results.csv table lists the columns of results.Row, in order."""
    text = (ROOT / "docs" / "outputs.md").read_text()
    table = text.split("## Output columns", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in table.splitlines():
        if line.startswith("| `"):
            names += [c.strip("` ") for c in line.split("|")[1].split(",")]
    assert names[:len(COLUMNS)] == COLUMNS


def test_off_a_terminal_progress_is_log_lines_and_the_summary_names_networks(tmp_path):
    args = ["dataset=breast_cancer", "train.epochs=3", "eval.trials=2", "method=axtrain",
            "method.finetune_epochs=1", "eval.knobs=[exact,K1,aggressive]"]
    r = run_cli([*args, f"hydra.run.dir={tmp_path / 'a'}"], cwd=tmp_path)  # stderr: a pipe
    assert r.returncode == 0, r.stderr
    for line in ("act 3/3: loss=", "pas@K1 1/1: loss=", "evaluate 1/3: exact accuracy",
                 "evaluate 2/3: K1 accuracy", "evaluate 3/3: aggressive accuracy",
                 "(mean of 2 reads)"):
        assert line in r.stdout + r.stderr, line
    assert "network" in r.stdout and "on exact" in r.stdout
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in r.stdout.splitlines()
            if ln.startswith("│")]
    assert [r[:2] for r in rows] == [["as trained", "exact"], ["K1", "K1"],
                                     ["aggressive", "aggressive"]], r.stdout
    quiet = run_cli([*args, "progress=off", f"hydra.run.dir={tmp_path / 'b'}"], cwd=tmp_path)
    assert "act 3/3" not in quiet.stdout and "evaluate 1/3" not in quiet.stdout


def test_the_documented_python_entry_runs(tmp_path):
    """docs/cli.md's "From Python" example, as a script run from another folder."""
    import re

    text = (ROOT / "docs" / "cli.md").read_text()
    code = re.search(r"## From Python.*?```python\n(.*?)```", text, re.S).group(1)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "runs" / "ionosphere_act" / "results.csv")
    assert set(rows.method) == {"act"} and set(rows.epochs) == {20}
    assert "K1" in r.stdout


def test_the_summary_names_knobs_that_are_not_the_papers_and_no_label_says_none():
    """`axtrain eval model.pt knobs=truncation` must not print a table that reads like
    DRUM's: a knob whose multiplier or memory is not the paper's knob of that name is named
    by them; unset parameters are left out of labels and parameter columns."""
    import io

    from rich.console import Console

    from axtrain_cli import knobs, ui
    from axtrain_cli.hardware import RELIABLE
    from axtrain_cli.hardware.plugin import without_unset

    def rows(mult):
        return [{"train_knob": "", "knob": k, "knob_name": k, "multiplier": m,
                 "memory": "reliable", "accuracy": 0.9, "exact_accuracy": 0.95, "loss": 0.1,
                 "compute_power": 0.1, "storage_power": 1.0}
                for k, m in (("exact", "exact"), ("K1", mult))]

    def text(df):
        out = io.StringIO()
        Console(file=out, width=200).print(ui.summary(df, "t", knobs.paper_labels(16)))
        return out.getvalue()

    assert "not the paper's" not in text(pd.DataFrame(rows("drum(k=2)")))
    t = text(pd.DataFrame(rows("truncation(k=2)")))
    assert "not the paper's" in t and "truncation(k=2)" in t
    assert RELIABLE.label == "reliable" and "None" not in str(knobs.EXACT.parameters())
    assert without_unset("reliable(voltage_mv=None)") == "reliable"
    assert without_unset("t(k=2, relative_power=None)") == "t(k=2)"


def test_a_value_the_shell_split_at_its_braces_is_one_line_with_the_quoted_form(tmp_path):
    """`+knobs.x={memory:{name:flips,rate:0.05}}` unquoted: bash's brace expansion makes it
    two overrides; the message says so and shows the quoted form, before any work."""
    import shlex

    words = subprocess.run(["bash", "-c", "printf '%s\\n' +knobs.x={memory:{name:flips,"
                            "voltage_mv:500,rate:0.05}}"], capture_output=True,
                           text=True).stdout.split()
    assert len(words) == 3  # what bash hands over
    r = run_cli([*words, "eval.knobs=[exact,x]"], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "the shell split one value at its braces" in r.stderr
    quoted = r.stderr.rsplit("quote it: ", 1)[1].strip()
    assert shlex.split(quoted) == ["+knobs.x={memory:{name:flips,voltage_mv:500,rate:0.05}}"]


def test_a_mixed_sweep_with_a_methods_own_setting_says_how_and_that_way_works(tmp_path):
    """`-m method=bp,axtrain method.finetune_epochs=1`: one line saying how (a multirun
    per method into one sweep dir), and that way runs and reports as one."""
    common = ["train.epochs=1", "eval.knobs=[exact,K1]", "progress=off",
              f"hydra.sweep.dir={tmp_path / 'D'}"]
    r = run_cli(["-m", "method=bp,axtrain", "method.finetune_epochs=1", *common], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "applies to method=axtrain, not to method=bp: sweep them apart" in r.stderr
    assert run_cli(["-m", "method=bp", *common], tmp_path).returncode == 0
    assert run_cli(["-m", "method=axtrain", "method.finetune_epochs=1", *common],
                   tmp_path).returncode == 0
    r = run_axtrain(["report", str(tmp_path / "D"), "--no-plots"], tmp_path)
    assert r.returncode == 0 and "report: 2 runs" in r.stdout
    assert "fig6_multiplier_error.csv" in r.stdout


def test_long_job_dir_names_keep_the_short_settings_whole():
    from axtrain_cli.cli.callbacks import MAX_NAME, dirname

    long = ("dataset.path=_home_user_data_some_very_long_directory_name_here_and_more.csv,"
            "eval.knobs=[exact,K1,K2,K3,K4,aggressive,conservative],method=act,seed=2")
    name = dirname(9, long)
    assert name.startswith("9_") and len(name) <= MAX_NAME + 2
    assert ",method=act,seed=2_" in name and "dataset.path=" in name
    assert dirname(9, long.replace("seed=2", "seed=3")) != name  # the hash keeps them apart
    assert dirname(3, "dataset=ionosphere,seed=1") == "3_dataset=ionosphere,seed=1"


def test_a_runs_topology_becomes_overrides_hydra_reads_back_as_written():
    """`axtrain eval/explore/resilience/synth` rebuild a run's network from the topology its
    checkpoint records, nested `_target_` configs (a transformers model's) included."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from axtrain_cli.cli.eval import _value

    topology = {"_target_": "transformers.ViTForImageClassification", "name": "vit",
                "config": {"_target_": "transformers.ViTConfig", "hidden_sizes": [8, 16],
                           "layer_norm_eps": 1e-12, "qkv_bias": True, "label": "it's",
                           "mask": None, "image_size": 32}}
    parser = OverridesParser.create()
    for key, value in topology.items():
        assert parser.parse_override(f"+topology.{key}={_value(value)}").value() == value
