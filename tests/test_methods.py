"""Training methods: the adaptive gamma rule, act vs BP sensitivity, the ApproxANN and AxNN
guarantees, and bad input through the CLI."""

import pandas as pd
import pytest
from conftest import TINY, run_cli

from axtrain_cli.methods.act import AdaptiveGamma
from axtrain_cli.pipeline import run

FAST = ["progress=off", "checkpoint=false", "eval.trials=3"]


def _run(compose_cfg, tmp_path, overrides) -> pd.DataFrame:
    cfg = compose_cfg([*FAST, *overrides])
    return run(cfg, tmp_path / "_".join(o.replace("/", "-") for o in overrides)[:120])


def _row(df, knob):
    return df[df.knob == knob].iloc[0]


def test_adaptive_gamma_rule():
    g = AdaptiveGamma(gamma0=0.01, delta=0.005, bound=0.0)
    rec = {"loss": 1.0}
    g.on_epoch(1, rec)  # A_1 = 0: E > A and E > bound -> decrease
    assert rec["gamma"] == 0.01 and g.gamma == pytest.approx(0.005)
    g.on_epoch(2, {"loss": 0.4})  # A_2 = 0.5 * 1.0 = 0.5 > 0.4 -> increase
    assert g.gamma == pytest.approx(0.01) and g.avg == pytest.approx(0.45)
    g.on_epoch(3, {"loss": 0.5})  # A_3 = 0.45 < 0.5 -> decrease
    assert g.gamma == pytest.approx(0.005)
    for e in range(4, 10):
        g.on_epoch(e, {"loss": 10.0})  # error rising: gamma decreases but stays >= 0
    assert g.gamma == 0.0
    g = AdaptiveGamma(0.0, 0.1, bound=0.2, metric="misclassification")
    g.on_epoch(1, {"loss": 5.0, "error_rate": 0.1})  # below the bound -> increase
    assert g.gamma == pytest.approx(0.1)


@pytest.mark.parametrize("dataset,extra,ratio", [
    ("breast_cancer", ["train.epochs=40"], 0.7),
    ("ionosphere", ["train.epochs=40"], 0.7),
])
def test_act_lowers_sensitivity_at_comparable_accuracy(compose_cfg, tmp_path, dataset, extra,
                                                        ratio):
    """(MNIST-MLP is checked on the quick reproduction in test_regression.py.)"""
    common = [f"dataset={dataset}", "eval.knobs=[exact]", *extra]
    bp = _row(_run(compose_cfg, tmp_path, [*common, "method=bp"]), "exact")
    act = _row(_run(compose_cfg, tmp_path, [*common, "method=act"]), "exact")
    assert act.sensitivity < ratio * bp.sensitivity, (act.sensitivity, bp.sensitivity)
    assert act.accuracy > bp.accuracy - 0.03, (act.accuracy, bp.accuracy)


def test_approxann_from_act_respects_max_loss(compose_cfg, tmp_path):
    df = _run(compose_cfg, tmp_path, ["dataset=ionosphere", "method=approxann",
                                      "method.init=act", "method.knob=K1", "train.epochs=20",
                                      "eval.knobs=[exact]", "method.max_loss=2.0"])
    row = _row(df, "approxann_K1")
    assert (row.base_accuracy - row.accuracy) * 100 <= 2.0 + 1e-9
    assert row.base_accuracy == pytest.approx(_row(df, "exact").accuracy)
    assert row.final_gamma > 0  # init=act trained act (its adaptive gamma moved)
    # 34-50-50-2: an approximate neuron of layer l brings its fan-in of multiplications
    fan_in, widths = [34, 50, 50], [50, 50, 2]
    assert row.total_multipliers == sum(f * w for f, w in zip(fan_in, widths)) == 4300
    assert row.total_neurons == sum(widths)
    splits = [(a, b, row.approx_neurons - a - b) for a in range(51) for b in range(51)]
    assert any(0 <= c <= 2 and 34 * a + 50 * b + 50 * c == row.approx_multipliers
               for a, b, c in splits), (row.approx_neurons, row.approx_multipliers)
    # K1's multipliers (DRUM k=2, relative power 0.06) on that share, exact ones on the rest
    share = row.approx_multipliers / row.total_multipliers
    assert row.compute_power == pytest.approx(1 - share * (1 - 0.06), abs=0.005)


@pytest.mark.parametrize("dataset,extra", [
    ("breast_cancer", []), ("image_seg", []), ("ionosphere", []),
    ("satimage", ["dataset.max_train=1500"]),
    ("mnist_mlp", ["dataset.max_train=2000", "dataset.max_test=500"]),
    ("mnist_cnn", ["dataset.max_train=1000", "dataset.max_test=300"]),
])
def test_axnn_terminates_within_its_constraints(compose_cfg, tmp_path, dataset, extra):
    df = _run(compose_cfg, tmp_path, [f"dataset={dataset}", "method=axnn", "train.epochs=3",
                                      "method.retrain_epochs=1", "method.max_iterations=6",
                                      "eval.knobs=[exact]", *extra])
    rows = df[df.knob.str.startswith("axnn_")]
    assert sorted(rows.constraint) == [0.5, 2.5, 7.5]
    for r in rows.itertuples():
        assert (r.base_accuracy - r.accuracy) * 100 <= r.constraint + 1e-9
        assert 0 < r.compute_power <= 1.0 and r.iterations <= 6


def test_approxann_error_reading_bounds_the_loss_rise(compose_cfg, tmp_path):
    """method.constraint=error: every accepted step keeps the test loss within max_loss %
    of the exact network's (the other reading of the paper's "2 %")."""
    df = _run(compose_cfg, tmp_path, ["dataset=ionosphere", "method=approxann",
                                      "method.knob=K1", "train.epochs=20", "eval.knobs=[exact]",
                                      "method.constraint=error", "knobs.K1.multiplier.k=2"])
    row = _row(df, "approxann_K1")
    assert row.constraint_reading == "error"
    assert (row.loss / row.base_loss - 1) * 100 <= 2.0 + 1e-9
    assert row.base_loss == pytest.approx(_row(df, "exact").loss)
    assert row.approx_multipliers < row.total_multipliers  # k = 2 is too harsh for all


@pytest.mark.parametrize("override,key", [
    (["method=approxann", "method.init=random"], "method.init"),
    (["method=approxann", "method.constraint=points"], "method.constraint"),
    (["method=approxann", "method.max_loss=150"], "method.max_loss"),
    (["method=axnn", "method.constraints=[2.5,0]"], "method.constraints.1"),
    (["method=act", "method.gamma0=-1"], "method.gamma0"),
    (["method=pas", "method.knob=exact"], "method.knob"),
    (["method=approxann", "method.knob=ntv660"], "method.knob"),
])
def test_method_bad_input_one_line_exit_2(tmp_path, override, key):
    r = run_cli([*TINY, *override, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and key in lines[0], r.stderr
    assert not (tmp_path / "run" / "results.csv").exists()


def test_pas_unknown_knob_lists_options(tmp_path):
    r = run_cli([*TINY, "method=pas", "method.knob=K9"], cwd=tmp_path)
    assert r.returncode == 2 and "K9" in r.stderr and "ntv660" in r.stderr


def test_network_power_weights_layers_by_their_counts(compose_cfg):
    from axtrain_cli import knobs
    from axtrain_cli.evaluation.inference import network_power
    from axtrain_cli.networks import build_network

    cfg = compose_cfg(["hardware.store_biases=false"])  # breast cancer: 30-64-64-2
    net = build_network(cfg.topology, [30], 2)
    w, b = 30 * 64 + 64 * 64 + 64 * 2, 64 + 64 + 2
    p = network_power(net, knobs.resolve("aggressive", cfg), cfg.hardware)  # 400 mV
    assert p["compute"] == 1.0
    assert p["storage"] == pytest.approx((w * (400 / 1100) ** 2 + b) / (w + b))
    p = network_power(net, knobs.resolve("K1", cfg), cfg.hardware)
    assert p == pytest.approx({"compute": 0.06, "storage": 1.0}, abs=0.005)  # DRUM k=2


@pytest.mark.parametrize("method", ["bp", "act"])
def test_bp_and_act_evaluate_a_checkpoint_without_training(compose_cfg, tmp_path, method):
    """method.checkpoint: the earlier run's network, evaluated on this run's knobs (here
    another multiplier family); the exact rows are the earlier run's, nothing is trained."""
    first = tmp_path / "first"
    trained = run(compose_cfg([*TINY, f"method={method}", "eval.knobs=[exact,K1]"]), first)
    again = run(compose_cfg([*TINY, f"method={method}", "eval.knobs=[exact,K1]",
                             "knobs=truncation", f"method.checkpoint={first / 'model.pt'}"]),
                tmp_path / "again")
    for col in ("loss", "accuracy", "sensitivity"):
        assert _row(again, "exact")[col] == _row(trained, "exact")[col], col
    assert _row(again, "K1").multiplier != _row(trained, "K1").multiplier
    assert (first / "history.csv").is_file() and not (tmp_path / "again" / "history.csv").exists()


def test_a_checkpoint_of_another_seed_loads_with_a_warning(compose_cfg, tmp_path, caplog):
    first = tmp_path / "first"
    run(compose_cfg([*TINY, "eval.knobs=[exact]"]), first)
    run(compose_cfg([*TINY, "eval.knobs=[exact]", "seed=1",
                     f"method.checkpoint={first / 'model.pt'}"]), tmp_path / "again")
    assert "trained with seed=0, this run has seed=1" in caplog.text


@pytest.mark.parametrize("name,wd,momentum", [("adam", 0.0, 0.9), ("adam", 1e-3, 0.9),
                                              ("sgd", 0.0, 0.9), ("sgd", 1e-3, 0.5),
                                              ("sgd", 0.0, 0.0)])
def test_optimizer_matches_torch_optim_bit_for_bit(name, wd, momentum):
    """training.Optimizer (torch's functional updates, no torch._dynamo import) gives the
    numbers torch.optim.Adam / SGD give, also where a parameter has no gradient."""
    import torch

    from axtrain_cli.training import make_optimizer

    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    mine = make_optimizer(ours, name, 0.01, wd, momentum)
    ref = (torch.optim.Adam(theirs, lr=0.01, weight_decay=wd) if name == "adam" else
           torch.optim.SGD(theirs, lr=0.01, momentum=momentum, weight_decay=wd))
    for step in range(6):
        mine.zero_grad(set_to_none=True)
        ref.zero_grad(set_to_none=True)
        for a, b in zip(ours, theirs):
            if step == 2 and a.dim() == 1:
                continue  # no gradient this step: the parameter and its state stay as they are
            g = torch.randn_like(a)
            a.grad, b.grad = g.clone(), g.clone()
        mine.step()
        ref.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match="train.optimizer='rmsprop'"):
        make_optimizer(ours, "rmsprop", 0.01)
