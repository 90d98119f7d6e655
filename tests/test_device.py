"""The `device` setting: cpu (default, the reference's numbers), cuda, auto. The CUDA
tests run only where torch sees a CUDA device; the refusals and the CPU plumbing run
everywhere."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import TINY, run_cli

from axtrain_cli.errors import ConfigError
from axtrain_cli.hardware.kernels import fake_quant
from axtrain_cli.hardware.memories.flips import flip_bits
from axtrain_cli.pipeline import run, torch_device, validate

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")


def test_device_values_are_checked_before_any_work(tmp_path):
    r = run_cli([*TINY, "device=gpu", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert "device='gpu'" in lines[0] and "cpu" in lines[0] and "auto" in lines[0]
    assert not (tmp_path / "run" / "results.csv").exists()


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_cuda_without_a_cuda_device_is_one_line_exit_2(tmp_path, compose_cfg):
    with pytest.raises(ConfigError, match="device=cuda: this machine has no CUDA device"):
        validate(compose_cfg([*TINY, "device=cuda"]), data=False)
    r = run_cli([*TINY, "device=cuda", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "allowed here cpu, auto" in r.stderr


def test_auto_is_the_cpu_here_and_gives_the_cpu_numbers(tmp_path, compose_cfg):
    if CUDA:
        assert torch_device("auto").type == "cuda"
        pytest.skip("auto means cuda on this machine")
    assert torch_device("auto") == torch.device("cpu")
    a = run(compose_cfg([*TINY, "device=cpu"]), tmp_path / "cpu")
    b = run(compose_cfg([*TINY, "device=auto"]), tmp_path / "auto")
    pd.testing.assert_frame_equal(a, b)


@needs_cuda
def test_fake_quant_on_cuda_is_bit_identical_to_cpu():
    x = torch.randn(4096, 64, generator=torch.Generator().manual_seed(0)) * 3
    for k in (None, 4, 7):
        assert torch.equal(fake_quant(x.cuda(), 12, 16, k).cpu(), fake_quant(x, 12, 16, k))


@needs_cuda
def test_flips_drawn_on_the_cuda_generator_have_the_set_rate():
    words = torch.zeros(200_000, dtype=torch.int64, device="cuda")
    gen = torch.Generator("cuda").manual_seed(0)
    for p in (0.01, 0.4):
        out = flip_bits(words, p, 16, gen)
        assert out.device.type == "cuda"
        ones = sum(int(((out >> b) & 1).sum()) for b in range(16))
        rate = ones / (words.numel() * 16)
        assert abs(rate - p) < 5 * (p * (1 - p) / (words.numel() * 16)) ** 0.5


@needs_cuda
def test_a_cuda_run_matches_the_cpu_run_closely(tmp_path, compose_cfg):
    over = [*TINY, "train.epochs=5", "method=axtrain", "method.finetune_epochs=1",
            "eval.knobs=[exact,K1,ntv660]"]
    cpu = run(compose_cfg([*over, "device=cpu"]), tmp_path / "cpu")
    gpu = run(compose_cfg([*over, "device=cuda"]), tmp_path / "cuda")
    assert list(cpu["knob"]) == list(gpu["knob"])
    exact = lambda df: df[df["knob"] == "exact"]["accuracy"].iloc[0]  # noqa: E731
    assert abs(exact(cpu) - exact(gpu)) <= 0.03  # float rounding differs, not the model


@needs_cuda
def test_a_model_as_written_runs_on_cuda_as_on_the_cpu():
    """The model's own forward on the hardware models on a GPU: a ViT (attention products
    too) and ResNet-20 (folded BatchNorms) give the CPU's numbers within float rounding."""
    from axtrain_cli import on_hardware
    from axtrain_cli.networks import zoo

    torch.manual_seed(0)
    for model in (zoo.ViT([3, 16, 16], 4, dim=16, depth=1, heads=2, mlp=32),
                  zoo.ResNet20([3, 16, 16], 4)):
        x = torch.randn(8, 3, 16, 16)
        cpu = on_hardware(model.eval(), "K1", x).eval()
        with torch.no_grad():
            want = cpu(x)
        gpu = on_hardware(model.cuda().eval(), "K1", x.cuda()).eval()
        with torch.no_grad():
            got = gpu(x.cuda()).cpu()
        assert torch.allclose(got, want, atol=1e-3 * max(1.0, float(want.abs().max())))
        model.cpu()
