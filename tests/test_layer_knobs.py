"""Per-layer knobs: a knob's `layers` entries give layers their own multiplier and memory
(knobs.Knob.assign), and every user of a knob takes them: the plan, the power, the rows,
the checks before any work."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli.errors import ConfigError
from axtrain_cli.evaluation.inference import network_power
from axtrain_cli.knobs import build
from axtrain_cli.networks import Network, calibrate, make_plan
from axtrain_cli.settings import HardwareConf

from conftest import TINY, run_cli

NAMES = ["features.0", "features.3", "fc1", "fc2", "head"]
DRUM = {"name": "drum", "k": 3}


def knob(layers, **own):
    return build("mix", {**own, "layers": layers}, 16)


def test_a_full_name_wins_over_globs_globs_in_order_and_the_rest_take_the_knobs_own():
    k = knob({"fc*": {"multiplier": {"name": "drum", "k": 2}},
              "features.*": {"multiplier": {"name": "truncation", "k": 3}},
              "fc2": {"multiplier": {"name": "exact"}},
              "*": {"memory": {"name": "flips", "voltage_mv": 660, "rate": 0.01}}},
             multiplier=DRUM)
    got = [(m.label, mem.label) for m, mem in k.assign(NAMES)]
    flips = "flips(voltage_mv=660, rate=0.01)"
    assert got == [("truncation(k=3)", flips), ("truncation(k=3)", flips),
                   ("drum(k=2)", flips), ("exact", flips), ("drum(k=3)", flips)]
    assert k.domain == "compute+storage" and k.stochastic
    assert k.multiplier_label.startswith("layers(fc*: drum(k=2); features.*: truncation")
    assert k.multiplier_label.endswith("; *: drum(k=3))")
    assert k.parameters() == {}  # the label names the parts


def test_a_knob_without_layers_is_what_it_was():
    k = build("K2", {"multiplier": DRUM}, 16)
    assert k.layers == () and k.multiplier_label == "drum(k=3)" and k.memory_label == "reliable"
    assert k.assign(NAMES) == [(k.multiplier, k.memory)] * len(NAMES)


@pytest.mark.parametrize("layers, words", [
    ({"conv9": {"multiplier": DRUM}}, "'conv9' matches no layer of the network"),
    ({"block*.conv": {"multiplier": DRUM}}, "allowed a name or a glob of features.0"),
])
def test_an_entry_that_names_no_layer_is_one_line(layers, words):
    with pytest.raises(ConfigError, match="knobs.mix.layers") as e:
        knob(layers).assign(NAMES)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("spec, words", [
    ({"layers": ["fc1"]}, "knobs.mix.layers=['fc1'] is out of range"),
    ({"layers": {"fc1": {"k": 3}}}, "knobs.mix.layers.fc1={'k': 3} is out of range"),
    ({"layers": {"fc1": {"multiplier": {"name": "drum", "k": 99}}}},
     "knobs.mix.layers.fc1.multiplier.k"),
])
def test_a_bad_layer_entry_is_one_line(spec, words):
    with pytest.raises(ConfigError) as e:
        build("mix", spec, 16)
    assert words in str(e.value)


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.last = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.last(torch.relu(self.first(x)))


def zero_table(tmp_path):
    path = tmp_path / "zero.npy"
    np.save(path, np.zeros((256, 256), dtype=np.int32))
    return {"name": "table", "file": str(path)}


def test_a_layers_multiplier_is_the_one_its_products_use(tmp_path):
    """A multiplier whose products are all zero in the last layer only: the logits are that
    layer's biases; in the first layer only: the last layer's products are not zero."""
    torch.manual_seed(0)
    model = Two()
    x = torch.randn(64, 6)
    net = Network(model, [6], 3, sample=x[:2])
    ranges = calibrate(net, x, 8)
    zero = zero_table(tmp_path)
    last = build("z", {"layers": {"last": {"multiplier": zero}}}, 8)
    plan = make_plan(net, last, 8, ranges)
    out = net.logits(x, plan)
    bias = plan.biases[1]  # the last layer's bias as stored
    assert torch.equal(out, bias.expand_as(out)) and bias.abs().sum() > 0
    first = build("z", {"layers": {"first": {"multiplier": zero}}}, 8)
    out = net.logits(x, make_plan(net, first, 8, ranges))
    assert not torch.equal(out, bias.expand_as(out))
    exact = net.logits(x, make_plan(net, build("e", {}, 8), 8, ranges))
    assert not torch.equal(out, exact)


def test_the_networks_power_weights_each_layers_multiplier_by_its_multiplications():
    torch.manual_seed(0)
    net = Network(Two(), [6], 3, sample=torch.randn(2, 6))
    k = build("m", {"layers": {"first": {"multiplier": DRUM}}}, 16)
    mults = net.mult_counts()
    r = hw.Drum(k=3).power()
    got = network_power(net, k, HardwareConf())
    assert got["compute"] == pytest.approx((mults[0] * r + mults[1]) / sum(mults))
    assert got["storage"] == 1.0


def test_the_rows_name_the_assignment_and_a_bad_layer_stops_before_training(tmp_path):
    out = tmp_path / "run"
    mix = "+knobs.mix={multiplier:{name:drum,k:2},layers:{4:{multiplier:{name:exact}}}}"
    r = run_cli([*TINY, mix, "eval.knobs=[exact,K1,mix]", f"hydra.run.dir={out}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out / "results.csv", keep_default_na=False).set_index("knob")
    assert df.loc["mix", "multiplier"] == "layers(4: exact; *: drum(k=2))"
    assert df.loc["K1", "multiplier"] == "drum(k=2)"
    assert 0 < 1 - df.loc["mix", "compute_power"] < 1 - df.loc["K1", "compute_power"]
    bad = tmp_path / "bad"
    r = run_cli([*TINY, "+knobs.mix={layers:{conv9:{multiplier:{name:exact}}}}",
                 "eval.knobs=[mix]", f"hydra.run.dir={bad}"], cwd=tmp_path)
    assert r.returncode == 2 and "knobs.mix.layers: 'conv9' matches no layer" in r.stderr
    assert not (bad / "results.csv").exists()


def test_on_hardware_takes_a_per_layer_knob_and_refuses_an_entry_that_names_no_layer():
    from axtrain_cli import on_hardware

    torch.manual_seed(0)
    model, x = Two(), torch.randn(32, 6)
    spec = {"multiplier": DRUM, "layers": {"last": {"multiplier": {"name": "exact"}}}}
    hw_model = on_hardware(model, spec, x, bits=8).eval()
    net = Network(model, [6], 3, sample=x[:2])
    plan = make_plan(net, build("knob", spec, 8), 8, calibrate(net, x, 8))
    assert torch.equal(hw_model(x), net.logits(x, plan))
    assert [m.label for m in plan.multipliers] == ["drum(k=3)", "exact"]
    with pytest.raises(ValueError, match="'conv9' matches no layer"):
        on_hardware(model, {"layers": {"conv9": {"multiplier": DRUM}}}, x, bits=8)


def test_approxanns_approximate_neurons_use_their_layers_multiplier(tmp_path):
    from axtrain_cli.methods.approxann import mixed_plan

    torch.manual_seed(0)
    model, x = Two(), torch.randn(32, 6)
    net = Network(model, [6], 3, sample=x[:2])
    ranges = calibrate(net, x, 8)
    knob = build("z", {"multiplier": DRUM, "layers": {"last": {"multiplier": zero_table(
        tmp_path)}}}, 8)
    on = mixed_plan(net, knob, 8, ranges, [torch.zeros(5, dtype=torch.bool),
                                           torch.ones(3, dtype=torch.bool)])
    out = net.logits(x, on)
    assert torch.equal(out, on.biases[1].expand_as(out))  # the zero table in `last`
    off = mixed_plan(net, knob, 8, ranges, [torch.zeros(5, dtype=torch.bool),
                                            torch.zeros(3, dtype=torch.bool)])
    exact = make_plan(net, build("e", {}, 8), 8, ranges)
    assert torch.equal(net.logits(x, off), net.logits(x, exact))


def test_a_neurons_entry_changes_only_those_outputs_and_their_share_of_the_power(tmp_path):
    """`neurons`: the zero table for outputs 0 and 2 of `first` only; those outputs are the
    bias, the others the exact ones; their memory too (flips at rate 1 for output 1)."""
    torch.manual_seed(0)
    model, x = Two(), torch.randn(16, 6)
    net = Network(model, [6], 3, sample=x[:2])
    ranges = calibrate(net, x, 8)
    zero = {**zero_table(tmp_path), "relative_power": 0.3}
    k = build("p", {"layers": {"first": {"multiplier": zero, "neurons": [0, 2]}}}, 8)
    assert k.multiplier_label.startswith("layers(first[0,2]: table(file=")
    assert k.multiplier_label.endswith("relative_power=0.3); *: exact)")
    seen, ref = {}, {}
    net.logits(x, make_plan(net, k, 8, ranges), observe=lambda i, a, o: seen.setdefault(i, o))
    exact = make_plan(net, build("e", {}, 8), 8, ranges)
    net.logits(x, exact, observe=lambda i, a, o: ref.setdefault(i, o))
    bias = exact.biases[0]
    assert torch.equal(seen[0][:, [0, 2]], bias[[0, 2]].expand(16, 2))
    assert torch.equal(seen[0][:, [1, 3, 4]], ref[0][:, [1, 3, 4]])
    mults = net.mult_counts()
    got = network_power(net, k, HardwareConf(bits=8))["compute"]
    r = hw.MULTIPLIERS.build(zero, 8).power()
    assert r == 0.3
    assert got == pytest.approx((mults[0] * (2 / 5 * r + 3 / 5) + mults[1]) / sum(mults))
    flips = build("f", {"layers": {"first": {"memory": {"name": "flips", "voltage_mv": 400,
                                                        "rate": 1.0}, "neurons": [1]}}}, 8)
    plan = make_plan(net, flips, 8, ranges, generator=torch.Generator().manual_seed(0))
    changed = (plan.weights[0] != exact.weights[0]).any(1)
    assert changed.tolist() == [False, True, False, False, False]
    with pytest.raises(ConfigError, match=r"layers.first.neurons=\[7\] is out of range for "
                                          r"layer first \(fc\): allowed indices 0..4"):
        build("b", {"layers": {"first": {"multiplier": DRUM, "neurons": [7]}}}, 8)\
            .check_units(net.units)
    with pytest.raises(ConfigError, match="neurons='0' is out of range"):
        build("b", {"layers": {"first": {"multiplier": DRUM, "neurons": "0"}}}, 8)
