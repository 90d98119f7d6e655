"""`axtrain explore`: the space (prefix-cached candidates equal uncached ones), the walks
and their fronts, the command's outputs, its knob YAMLs in `axtrain eval`, two workers on
one SQLite study, and its one-line errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from torch import nn

from axtrain_cli.errors import ConfigError
from axtrain_cli.explore import search as walk
from axtrain_cli.explore.run import select
from axtrain_cli.explore.space import Entry, Space
from axtrain_cli.hardware import MULTIPLIERS
from axtrain_cli.networks import Network, calibrate

from conftest import TINY, run_axtrain, run_cli

SPECS = [{"name": "exact"}, {"name": "drum", "k": 2}, {"name": "drum", "k": 4},
         {"name": "truncation", "k": 2}]


def library(bits=8):
    out = []
    for i, s in enumerate(SPECS):
        m = MULTIPLIERS.build(s, bits)
        out.append(Entry(f"m{i}", m, s, m.power()))
    return out


class Residual(nn.Module):
    """Convolutions with a skip connection and in-place ReLUs: a layer's input depends on
    every earlier layer, and the model changes layer outputs in place."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        h = torch.relu_(self.a(x))
        h = torch.relu_(self.b(h)) + h
        return self.head(h.flatten(1))


def space(cache_mb):
    torch.manual_seed(0)
    model = Residual()
    x = torch.randn(90, 1, 8, 8)
    y = model(x).argmax(-1).detach()  # a task the float network solves
    net = Network(model, [1, 8, 8], 3, sample=x[:2])
    return Space(net, x[:60], y[:60], 3, "mse", calibrate(net, x[60:], 8), 8, "dynamic",
                 library(), batch=25, cache_mb=cache_mb)


def test_candidates_share_layer_outputs_and_measure_what_an_uncached_run_does():
    cached, plain = space(64), space(0)
    gen = torch.Generator().manual_seed(1)
    picks = [tuple(int(v) for v in torch.randint(0, 4, (3,), generator=gen)) for _ in range(12)]
    picks += [(1, 1, j) for j in range(4)]  # the same prefix, the last layer changing
    for a in picks:
        assert cached.evaluate(a) == plain.evaluate(a), a
    assert cached.cache.hits > 0 and plain.cache is None


def test_power_weights_each_layers_multiplier_and_the_walks_fronts_are_not_dominated():
    s = space(64)
    assert s.power(s.uniform(s.exact)) == 1.0
    cheap = s.power((1, 1, 1))
    assert cheap == pytest.approx(s.library[1].power)
    points = walk.uniform(s)
    sens = walk.sensitivity(s)
    assert sens[0, 0] == (0.0, 0.0) and len(sens) == 3 * 4
    path = walk.greedy(s, sens)
    assert path[0].assignment == (0, 0, 0)
    assert min(s.library[j].power for j in path[-1].assignment) == min(e.power for e in s.library)
    assert all(b.power < a.power for a, b in zip(path, path[1:]))  # each step saves power
    front = walk.front(points + path)
    for p in front:
        assert not any(q.power <= p.power and q.accuracy > p.accuracy for q in points + path)


def test_a_library_needs_an_exact_multiplier_and_an_approximate_one():
    lib = library()
    with pytest.raises(ConfigError, match="no exact multiplier to compare against"):
        select(lib[1:], None, "mine")
    with pytest.raises(ConfigError, match="no approximate multiplier"):
        select(lib[:1], None, "mine")
    with pytest.raises(ConfigError, match="'m9' is not a multiplier knob of knobs=mine"):
        select(lib, "m1,m9", "mine")
    assert [e.knob for e in select(lib, "m2", "mine")] == ["m0", "m2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    r = run_cli([*TINY, "train.epochs=20", "eval.knobs=[exact]", f"hydra.run.dir={root / 'bp'}"],
                cwd=root)
    assert r.returncode == 0, r.stderr
    return root


def test_explore_writes_the_front_the_chosen_points_and_knobs_that_eval_takes(trained):
    out = trained / "ex"
    r = run_axtrain(["explore", f"run={trained / 'bp'}", "knobs=explore8", "hardware.bits=8",
                     "trials=10", "population=4", "validation=80", "retrain_epochs=1",
                     f"out={out}"], cwd=trained)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "explore.json").read_text())
    assert summary["library"][0]["multiplier"] == "exact" and len(summary["library"]) == 11
    pareto = pd.read_csv(out / "pareto.csv", keep_default_na=False)
    assert set(pareto.source) == {"uniform", "greedy", "search"}
    assert [c for c in pareto if c.startswith("layer:")] == ["layer:0", "layer:2", "layer:4"]
    chosen = pareto[pareto.chosen_for_budget != ""]
    assert len(chosen) >= 3 and chosen.test_accuracy.between(0, 1).all()
    assert chosen.retrained_test_accuracy.between(0, 1).all()
    for c in summary["chosen"]:  # within its budget of the exact network, on validation
        assert c["val_accuracy"] >= summary["exact_val_accuracy"] - c["budget_points"] / 100
    points = pd.read_csv(out / "points.csv")
    assert (points.source == "search").sum() == 10
    assert (out / "pareto.png").stat().st_size > 0
    names = ",".join(c["knob"] for c in summary["chosen"][:2])
    r = run_axtrain(["eval", str(trained / "bp" / "model.pt"), "hardware.bits=8",
                     f"hydra.searchpath=[file://{out}]", "knobs=explored",
                     f"eval.knobs=[exact,{names}]", f"hydra.run.dir={trained / 'ev'}",
                     "progress=off"], cwd=trained)
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(trained / "ev" / "results.csv", keep_default_na=False).set_index("knob")
    first = summary["chosen"][0]
    assert rows.loc[first["knob"], "compute_power"] == pytest.approx(first["compute_power"])
    assert rows.loc[first["knob"], "accuracy"] == pytest.approx(first["test_accuracy"])


@pytest.mark.regression
def test_two_workers_share_one_sqlite_study(trained):
    db = trained / "shared.db"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "axtrain_cli.cli", "explore", f"run={trained / 'bp'}",
         "trials=16", "population=4", "validation=80", f"storage=sqlite:///{db}",
         "study=shared", f"worker={w}", f"out={trained / f'w{w}'}"],
        cwd=trained, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"OMP_NUM_THREADS": "1", **__import__("os").environ}) for w in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    import optuna

    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{db}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert 16 <= len(done) <= 17  # each worker stops once the study holds 16
    assert {t.user_attrs["worker"] for t in done} == {0, 1}
    rerun = run_axtrain(["explore", f"run={trained / 'bp'}", "trials=16", "population=4",
                         "validation=80", f"storage=sqlite:///{db}", "study=shared",
                         f"out={trained / 'w2'}"], cwd=trained)
    assert rerun.returncode == 0, rerun.stderr  # the study is complete: resumed, nothing run
    assert len(optuna.load_study(study_name="shared", storage=f"sqlite:///{db}").trials) == \
        len(study.trials)


@pytest.mark.parametrize("args, words", [
    (["trials=0"], "trials=0 is out of range: allowed an integer >= 1"),
    (["budgets=0,2"], "budgets='0,2' is out of range"),
    (["gradient=exactish"], "gradient='exactish' is out of range: allowed ste, difference"),
    (["validation=many"], "validation='many' is not a int"),
    (["library=K1,K9"], "library: 'K9' is not a multiplier knob of knobs=paper"),
    (["validation=100000"], "validation=100000 is out of range: allowed fewer than"),
])
def test_bad_options_are_one_line_exit_2_before_any_output(trained, args, words):
    out = trained / "bad"
    r = run_axtrain(["explore", f"run={trained / 'bp'}", f"out={out}", *args], cwd=trained)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (out / "pareto.csv").exists()


def test_a_run_without_a_checkpoint_is_one_line(tmp_path):
    r = run_axtrain(["explore", f"run={tmp_path}"], cwd=tmp_path)
    assert r.returncode == 2 and "no model.pt there" in r.stderr


def test_a_budget_only_exact_meets_names_the_closest_point():
    from axtrain_cli.explore.run import choose, unmet_budgets

    s = space(64)
    points = walk.uniform(s)
    exact_acc = points[0].accuracy
    worst = [p for p in points if p.accuracy < exact_acc]
    assert worst  # the space's approximate multipliers cost accuracy
    tight = 100 * min(exact_acc - p.accuracy for p in worst) / 2
    chosen = choose([p for p in points if p.accuracy < exact_acc or p.power == 1.0], exact_acc,
                    [tight])
    lines = unmet_budgets(chosen, points, s, exact_acc)
    assert len(lines) == 1 and "no assignment cheaper than exact stays within" in lines[0]
    assert "the closest loses" in lines[0]
