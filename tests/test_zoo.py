"""The model-zoo stage: Hugging Face `transformers` vision models, built from small configs
with random weights (nothing downloaded), run by their own forward on the hardware models
through the checks of tests/test_conformance.py, and `axtrain train` with bp, act and pas
on three of them, their topologies given as YAML (`_target_` with a nested config, as
hydra.utils.instantiate builds it), and `axtrain eval`, `explore` and `resilience` on such a
run."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import make_cifar, run_axtrain, run_cli

from axtrain_cli import on_hardware
from axtrain_cli.networks import read_logits

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.regression

T = transformers
CONFIGS = {  # model class, config class, config (5 classes), image side
    "resnet": ("ResNetForImageClassification", "ResNetConfig",
               {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1],
                "layer_type": "basic"}, 16),
    "vit": ("ViTForImageClassification", "ViTConfig",
            {"image_size": 16, "patch_size": 4, "hidden_size": 16, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 32}, 16),
    "deit": ("DeiTForImageClassification", "DeiTConfig",
             {"image_size": 16, "patch_size": 4, "hidden_size": 16, "num_hidden_layers": 2,
              "num_attention_heads": 2, "intermediate_size": 32}, 16),
    "convnextv2": ("ConvNextV2ForImageClassification", "ConvNextV2Config",
                   {"num_stages": 2, "hidden_sizes": [8, 16], "depths": [1, 1]}, 16),
    "mobilevit": ("MobileViTForImageClassification", "MobileViTConfig",
                  {"image_size": 32, "patch_size": 2, "hidden_sizes": [16, 24, 32],
                   "neck_hidden_sizes": [8, 8, 16, 16, 24, 32, 64],
                   "num_attention_heads": 2}, 32),
    "mobilenetv2": ("MobileNetV2ForImageClassification", "MobileNetV2Config",
                    {"image_size": 32, "depth_multiplier": 0.35}, 32),
    "efficientnet": ("EfficientNetForImageClassification", "EfficientNetConfig",
                     {"image_size": 32, "width_coefficient": 0.25, "depth_coefficient": 0.25,
                      "hidden_dim": 320}, 32),
    "swin": ("SwinForImageClassification", "SwinConfig",
             {"image_size": 16, "patch_size": 2, "embed_dim": 8, "depths": [1, 1],
              "num_heads": [1, 2], "window_size": 2}, 16),
}


def build(name: str):
    model_cls, config_cls, kwargs, side = CONFIGS[name]
    torch.manual_seed(0)
    # weights drawn wider than the models' default (0.02), so that their outputs depend on
    # their inputs at this size
    config = getattr(T, config_cls)(num_channels=3, num_labels=5, initializer_range=0.2,
                                    **kwargs)
    model = getattr(T, model_cls)(config)
    with torch.no_grad():  # BatchNorms with running statistics of a trained network
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model, torch.randn(6, 3, side, side, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", CONFIGS)
def test_a_transformers_model_runs_as_written(name):
    model, x = build(name)
    model.eval()
    with torch.no_grad():
        ref = read_logits(model(x), model)
    exact = on_hardware(model, "exact", x).eval()
    k1 = on_hardware(model, "K1", x).eval()
    with torch.no_grad():
        ze, z1 = exact(x), k1(x)
        assert torch.equal(ze, exact(x))  # deterministic
    scale = float(ref.abs().max())
    assert (ze - ref).abs().max() <= 5e-3 * scale, (ze - ref).abs().max() / scale
    assert (z1 - ref).abs().max() > 2e-2 * scale
    cov = exact.coverage
    assert cov.share == 1.0, cov.describe()
    # every multiply-accumulate torch's own counter sees (attention by its math path)
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode

        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, \
                torch.no_grad():
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    assert cov.macs * len(x) == pytest.approx(counter.get_total_flops() / 2, rel=1e-9)
    # a straight-through step in training mode moves every weight that float training
    # moves (attention over a single token has no gradient for its query and key)
    model.train()
    y = torch.arange(len(x)) % 5
    torch.manual_seed(2)
    F.cross_entropy(read_logits(model(x), model), y).backward()
    learns = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    model.zero_grad()
    step = on_hardware(model, "K1", x)
    before = copy.deepcopy({u.name: u.weight.detach().clone() for u in step.net.units})
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    torch.manual_seed(2)
    F.cross_entropy(step(x), y).backward()
    opt.step()
    moved = {u.name for u in step.net.units if not torch.equal(before[u.name], u.weight)}
    should = {u.name for u in step.net.units if f"{u.name}.weight" in learns}
    assert should and moved >= should, should - moved


def write_topology(root, name: str) -> None:
    """ROOT/conf/topology/hf_NAME.yaml: the model of CONFIGS as a `_target_` with a nested
    config, for CIFAR-10's 3 x 32 x 32 inputs and 10 classes."""
    model_cls, config_cls, kwargs, _ = CONFIGS[name]
    conf = root / "conf" / "topology"
    conf.mkdir(parents=True, exist_ok=True)
    kwargs = {**kwargs, "image_size": 32} if "image_size" in kwargs else kwargs
    lines = [f"_target_: transformers.{model_cls}", f"name: {name}", "config:",
             f"  _target_: transformers.{config_cls}", "  num_channels: 3", "  num_labels: 10"]
    lines += [f"  {k}: {v}" for k, v in kwargs.items()]
    (conf / f"hf_{name}.yaml").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", ["resnet", "vit", "convnextv2"])
def test_axtrain_trains_bp_act_and_pas_on_it(name, tmp_path):
    """`axtrain train` with the model's YAML: a nested config instantiated the way Hydra
    does, on a tiny CIFAR-10 archive."""
    data = make_cifar(tmp_path / "cifar.tar.gz", per_batch=20, test=30)
    write_topology(tmp_path, name)
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"topology=hf_{name}",
                 "dataset=cifar10", f"dataset.path={data}", "method=bp,act,pas",
                 "train.epochs=1", "train.batch_size=16", "eval.trials=2",
                 "eval.knobs=[exact,K1,ntv660]", "progress=off", f"hydra.sweep.dir={sweep}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.concat(pd.read_csv(f) for f in sweep.rglob("results.csv"))
    assert set(rows.method) == {"bp", "act", "pas"} and set(rows.topology) == {name}
    assert (rows.hw_mac_share == 1.0).all()


def test_eval_explore_and_resilience_take_a_transformers_run(tmp_path):
    """A ViT run (its topology a nested `_target_` config, rebuilt from the checkpoint) is
    taken by `axtrain eval`, `explore` and `resilience` like a zoo network's: the chosen
    points' knobs name the model's own modules and measure on eval what explore measured,
    and every neuron of every unit is scored and injected."""
    data = make_cifar(tmp_path / "cifar.tar.gz", per_batch=20, test=30)
    write_topology(tmp_path, "vit")
    run = tmp_path / "bp"
    r = run_cli([f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "topology=hf_vit",
                 "dataset=cifar10", f"dataset.path={data}", "train.epochs=1",
                 "eval.knobs=[exact]", "progress=off", f"hydra.run.dir={run}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "ex"
    r = run_axtrain(["explore", f"run={run}", "knobs=explore8", "hardware.bits=8", "trials=6",
                     "population=4", "validation=40", f"out={out}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "explore.json").read_text())
    layers = [c[len("layer:"):] for c in pd.read_csv(out / "pareto.csv") if c.startswith("layer:")]
    assert "vit.embeddings.patch_embeddings.projection" in layers and "classifier" in layers
    first = summary["chosen"][0]
    r = run_axtrain(["eval", str(run / "model.pt"), "hardware.bits=8",
                     f"hydra.searchpath=[file://{out}]", "knobs=explored",
                     f"eval.knobs=[exact,{first['knob']}]", f"hydra.run.dir={tmp_path / 'ev'}",
                     "progress=off"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "ev" / "results.csv", keep_default_na=False).set_index("knob")
    assert rows.loc[first["knob"], "compute_power"] == pytest.approx(first["compute_power"])
    assert rows.loc[first["knob"], "accuracy"] == pytest.approx(first["test_accuracy"])
    r = run_axtrain(["resilience", f"run={run}", "validation=40", "reads=1", "resamples=100",
                     f"out={tmp_path / 'rs'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    df = pd.read_csv(tmp_path / "rs" / "resilience.csv")
    assert set(df.layer) == set(layers)
    assert df.groupby("layer").size()["classifier"] == 10
    assert df.loss_increase_multiplier.notna().all() and df.loss_increase_flips.notna().all()
