"""hardware.weight_format: the per-layer dynamic weight word (default) and the paper's
reading of section 3.2, a sign bit and bits - 1 fraction bits in every layer."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import torch
from conftest import TINY, run_cli

from axtrain_cli import hardware as hw
from axtrain_cli.hardware import reference
from axtrain_cli.networks import build_network
from axtrain_cli.networks.plan import clip_to_format, saturated_weights, weight_fl, weight_words
from axtrain_cli.pipeline import run
from axtrain_cli.results import load_checkpoint
from axtrain_cli.settings import TopologyConf


def _net():
    topo = TopologyConf(name="5-8-6-3", kind="mlp", hidden=[8, 6])
    torch.manual_seed(0)
    return build_network(topo, [5], 3)


def test_the_fraction_format_is_sign_and_fraction_bits_in_every_layer():
    net = _net()
    with torch.no_grad():
        net.units[0].weight.mul_(0.1)  # max|w| well below 0.5: dynamic adds fraction bits
    dynamic = [fw for fw, *_ in weight_words(net, 16)]
    fraction = [fw for fw, *_ in weight_words(net, 16, "fraction")]
    assert fraction == [15, 15, 15] and dynamic[0] > 15
    assert [fb for _, _, fb, _ in weight_words(net, 16, "fraction")] == \
        [fb for _, _, fb, _ in weight_words(net, 16)]  # biases keep their own format
    grid = torch.arange(-2**15, 2**15, 7) * 2.0**-15  # representable values of [-1, 1)
    assert torch.equal(hw.from_words(hw.to_words(grid, 15, 16), 15), grid.float())


@pytest.mark.parametrize("fmt,shift", [("fraction", 1.0), ("dynamic", None)])
def test_a_sign_bit_flip_moves_a_weight_by_the_formats_reach(fmt, shift):
    """Flipping bit 15 changes the word by 2^15, i.e. the weight by 2^(15 - FL): exactly
    1.0 (half the range [-1, 1)) in the fraction format, less when FL grows."""
    w = torch.tensor([0.25, -0.3, 0.1])
    fl = weight_fl(w, 16, fmt)
    for value in w.tolist():
        word = reference.quantize(value, fl, 16)
        flipped = reference.flip(word, 1 << 15, 16)
        moved = abs(flipped - word) * 2.0**-fl
        assert moved == (shift if shift is not None else 2.0 ** (15 - fl))
    if fmt == "dynamic":
        assert 2.0 ** (15 - fl) == 0.5  # max|w| 0.3: FL 16, a sign flip moves by 0.5 only


def test_saturation_is_counted_and_clipping_keeps_weights_in_range():
    net = _net()
    with torch.no_grad():
        net.units[1].weight[0, :3] = torch.tensor([1.5, -1.2, 0.999])
        net.units[2].weight[1, 0] = 1.0
    assert saturated_weights(net, 16, "fraction") == 3  # 1.5, -1.2 and 1.0 (rounds to 2^15)
    # dynamic: only the documented one-LSB case, a maximum that is a power of two (1.0)
    assert saturated_weights(net, 16, "dynamic") == 1
    assert clip_to_format(net, 16) == 3
    top = 1 - 2.0**-15
    assert all(float(m.weight.max()) <= top and float(m.weight.min()) >= -1 for m in net.units)
    assert saturated_weights(net, 16, "fraction") == 0 and clip_to_format(net, 16) == 0


def test_training_under_the_fraction_format_clips_and_logs_it(tmp_path, compose_cfg):
    out = tmp_path / "run"
    df = run(compose_cfg([*TINY, "hardware.weight_format=fraction", "train.lr=0.5",
                          "train.epochs=3"]), out)
    history = pd.read_csv(out / "history.csv")
    assert "clipped_weights" in history and (history["clipped_weights"] >= 0).all()
    state = load_checkpoint(out / "model.pt")["state_dict"]
    for key, v in state.items():
        if key.endswith("weight"):
            assert float(v.max()) <= 1 - 2.0**-15 and float(v.min()) >= -1.0, key
    assert set(df["knob"]) >= {"exact", "aggressive"}


def test_evaluation_in_the_fraction_format_warns_with_the_saturated_count(compose_cfg, caplog):
    from axtrain_cli.data import load_split
    from axtrain_cli.evaluation.inference import sweep

    cfg = compose_cfg([*TINY, "hardware.weight_format=fraction", "eval.knobs=[exact]"])
    net = build_network(cfg.topology, list(cfg.dataset.input_shape), cfg.dataset.n_classes)
    with torch.no_grad():
        net.units[0].weight[0, :4] = 2.0  # as if trained without the clip
    with caplog.at_level(logging.WARNING, logger="axtrain"):
        rows = sweep(net, load_split(cfg.dataset, 0), cfg, ["exact"], seed=0)
    assert len(rows) == 1
    assert any("4 weights lie outside the fraction weight format's range" in r.getMessage()
               for r in caplog.records)


def test_a_bad_weight_format_is_one_line(tmp_path):
    r = run_cli([*TINY, "hardware.weight_format=int8", f"hydra.run.dir={tmp_path / 'r'}"],
                cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "hardware.weight_format='int8'" in r.stderr and "fraction" in r.stderr
