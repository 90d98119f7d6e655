"""Fixed point, DRUM-k, the fused operand kernel, the STE and the power proxies, against the
plain-integer reference and the notes (memories: test_memory.py; plug-ins: test_plugins.py)."""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn.functional as F

from axtrain_cli import hardware as hw
from axtrain_cli.hardware import kernels as fq
from axtrain_cli.hardware import reference as ref


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical floats (distinguishes -0.0 from 0.0)."""
    view = {torch.float32: torch.int32, torch.float64: torch.int64}[a.dtype]
    return a.dtype == b.dtype and torch.equal(a.view(view), b.view(view))


def _edge_values(k: int, bits: int = 16) -> list[int]:
    half = 2 ** (bits - 1)
    mags = {0, 1, 2, 3, 2**k - 1, 2**k, 2**k + 1, 2 ** (k + 1) - 1, 2 ** (k + 1), half - 1}
    mags = {m for m in mags if m < half}
    return sorted({s * m for m in mags for s in (1, -1)} | {-half})


# ----------------------------------------------------------------------------- DRUM-k
@pytest.mark.parametrize("dtype", [torch.int64, torch.float32, torch.float64])
@pytest.mark.parametrize("k", range(2, 24))
def test_drum_transform_edge_cases_match_reference(k, dtype):
    values = sorted(set(_edge_values(k, 16) + _edge_values(k, 24)))
    got = hw.drum_transform(torch.tensor(values, dtype=dtype), k)
    assert got.dtype == (torch.int64 if dtype == torch.int64 else dtype)
    assert [int(v) for v in got.tolist()] == [ref.drum_t(v, k) for v in values]


def test_drum_transform_examples():
    # k=3: 0b1011_0110 keeps 101 (lowest kept bit already 1); 0b1001_0110 keeps 100 -> 101
    assert ref.drum_t(0b10110110, 3) == 0b10100000 == ref.drum_t(0b10010110, 3)
    assert hw.drum_transform(torch.tensor([182, -150, 7, 8, 12]), 3).tolist() == [
        160, -160, 7, 10, 14]
    # the most negative 16-bit word: magnitude 2^15 -> (2^(k-1) | 1) << (16 - k)
    for k in range(2, 16):
        expected = ((2 ** (k - 1)) | 1) << (16 - k)
        assert hw.drum_transform(torch.tensor([-32768]), k).item() == -expected


def test_drum_multiply_edge_cases_match_reference():
    for k in (2, 4, 5, 8, 15):
        values = _edge_values(k)
        a = torch.tensor(values).repeat_interleave(len(values))
        b = torch.tensor(values).repeat(len(values))
        got = hw.drum_multiply(a, b, k)
        assert got.dtype == torch.int64
        assert got.tolist() == [ref.drum_mul(x, y, k) for x, y in zip(a.tolist(), b.tolist())]


@pytest.mark.parametrize("k", range(2, 8))
def test_drum_multiply_exhaustive_8bit(k):
    words = torch.arange(-128, 128)
    a, b = words.repeat_interleave(256), words.repeat(256)
    table = {x: ref.drum_t(x, k) for x in range(-128, 128)}
    expected = [ref.drum_mul(x, y, k) for x, y in zip(a.tolist(), b.tolist())]
    assert hw.drum_multiply(a, b, k).tolist() == expected
    # and the separable form T_k(a) * T_k(b) the GEMM path relies on
    assert expected == [table[x] * table[y] for x, y in zip(a.tolist(), b.tolist())]


def test_drum_multiply_random_16bit_matches_reference():
    g = _gen(1)
    a = torch.randint(-(2**15), 2**15, (4000,), generator=g)
    b = torch.randint(-(2**15), 2**15, (4000,), generator=g)
    for k in range(2, 16):
        expected = [ref.drum_mul(x, y, k) for x, y in zip(a.tolist(), b.tolist())]
        assert hw.drum_multiply(a, b, k).tolist() == expected


# measured with 200k pairs from [1, 2^16), seed 0: mean |err| 5.88/2.94/1.47/0.735/0.368 %,
# mean signed err +0.54/+0.14/+0.04/+0.017/+0.012 %, std 7.25/3.61/1.80/0.90/0.45 %
@pytest.mark.parametrize("k, mean_abs", [(4, 5.9), (5, 2.9), (6, 1.5), (7, 0.73), (8, 0.37)])
def test_drum_error_statistics_16bit(k, mean_abs):
    g = _gen(0)
    a = torch.randint(1, 2**16, (200_000,), generator=g)
    b = torch.randint(1, 2**16, (200_000,), generator=g)
    exact = (a * b).double()
    rel = (hw.drum_multiply(a, b, k).double() - exact) / exact * 100
    assert rel.abs().mean().item() == pytest.approx(mean_abs, rel=0.15)
    assert abs(rel.mean().item()) < 0.15 * mean_abs  # nearly unbiased (k=4: +0.54 %)


def test_drum_rejects_bad_k():
    for k in (1, 0, 24):
        with pytest.raises(ValueError, match=rf"k={k}\b.*\[2, 23\]"):
            hw.drum_transform(torch.tensor([5]), k)
    with pytest.raises(ValueError, match=r"k=16\b.*\[2, 15\]"):
        hw.fake_quant(torch.rand(3), 14, 16, 16)
    with pytest.raises(ValueError, match=r"k=2\.0"):
        hw.drum_multiply(torch.tensor([5]), torch.tensor([5]), 2.0)


# ----------------------------------------------------------------------------- fixed point
def test_check_format():
    for bits in (2, 8, 16, 24):
        hw.check_format(bits)
    for bits in (1, 25, 0, 16.0):
        with pytest.raises(ValueError, match=rf"bits={bits!r}.*\[2, 24\]"):
            hw.check_format(bits)
    with pytest.raises(ValueError, match=r"bits=32"):
        hw.quantize(torch.rand(3), 8, 32)


def test_quantize_rounding_and_saturation():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 3.0, 1e9, -1e9, 127.4, -128.6])
    q = hw.quantize(x, 0, 8)
    assert q.dtype == torch.float32
    assert q.tolist() == [0, 2, 2, 0, -2, -2, 0, 3, 127, -128, 127, -128]
    assert hw.quantize(torch.tensor([0.3, -0.3], dtype=torch.float64), 3, 16).tolist() == [2, -2]
    assert hw.quantize(torch.tensor([100.0]), -3, 16).tolist() == [12]  # 12.5 -> 12 (even)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantize_matches_reference(dtype):
    g = _gen(2)
    x = (torch.randn(3000, generator=g, dtype=torch.float64) * 3).to(dtype)
    for fl, bits in [(12, 16), (14, 16), (4, 8), (-2, 6), (20, 24)]:
        got = hw.quantize(x, fl, bits).tolist()
        assert got == [ref.quantize(v, fl, bits) for v in x.tolist()]


def test_words_roundtrip():
    x = torch.tensor([0.25, -1.0, 0.999, -0.3333])
    words = hw.to_words(x, 14, 16)
    assert words.dtype == torch.int64
    assert words.tolist() == [4096, -16384, 16368, -5461]
    back = hw.from_words(words, 14)
    assert back.dtype == torch.float32
    assert back.tolist() == [w / 2**14 for w in words.tolist()]
    assert hw.from_words(words, 14, torch.float64).dtype == torch.float64


def test_frac_length_cases():
    assert hw.frac_length(0.0, 16) == 15
    assert hw.frac_length(1.0, 16) == 15  # +1.0 saturates by one LSB, -1.0 is exact
    assert hw.frac_length(0.75, 16) == 15
    assert hw.frac_length(0.5, 16) == 16
    assert hw.frac_length(1.5, 16) == 14
    assert hw.frac_length(100.0, 16) == 8
    assert hw.frac_length(2.0**20, 16) == -5
    assert hw.frac_length(2.0**-30, 8) == 37
    assert hw.frac_length(torch.tensor(3.0), 16) == 13


def test_frac_length_keeps_max_within_one_lsb():
    g = _gen(3)
    for bits in (8, 16):
        half = 2 ** (bits - 1)
        values = torch.exp(torch.randn(500, generator=g, dtype=torch.float64) * 5).tolist()
        values += [2.0**n for n in range(-20, 20)] + [2.0**n * (1 + 2**-40) for n in range(-5, 5)]
        for m in values:
            fl = hw.frac_length(m, bits)
            scaled = m * 2.0**fl
            assert half / 2 < scaled <= half  # uses the top bit, never more than 2^(bits-1)
            assert ref.quantize(-m, fl, bits) == round(-scaled)  # -max_abs representable
            assert abs(ref.quantize(m, fl, bits) - scaled) <= 1


def test_frac_length_rejects_bad_input():
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="max_abs="):
            hw.frac_length(bad, 16)
    with pytest.raises(ValueError, match="bits=30"):
        hw.frac_length(1.0, 30)


# ----------------------------------------------------------------------------- fake_quant
@pytest.fixture(autouse=True)
def _fuse_small_tensors(monkeypatch):
    """These tests run the fused path at once and on small inputs too (the defaults keep
    small tensors eager, and a process eager until compiling pays)."""
    monkeypatch.setattr(fq, "FUSE_MIN_NUMEL", 2)
    monkeypatch.setattr(fq, "COMPILE_AFTER", 0)


def test_a_process_compiles_only_once_it_pays(monkeypatch):
    monkeypatch.undo()  # the real thresholds
    calls = []
    monkeypatch.setattr(fq, "_compiled", None)
    monkeypatch.setattr(fq, "_eager_work", 0)
    monkeypatch.setattr(fq, "COMPILE_AFTER", 3 * fq.FUSE_MIN_NUMEL)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: lambda *a: calls.append(a) or fn(*a))
    monkeypatch.setattr(fq, "_compile_failed", False)
    monkeypatch.setattr(fq, "_fused", True)
    hw.fake_quant(torch.randn(100, 30), 14, 16, 4)  # small: eager, not counted
    big = torch.randn(fq.FUSE_MIN_NUMEL)
    for _ in range(3):  # large, but not yet COMPILE_AFTER elements of eager work
        hw.fake_quant(big, 14, 16, 4)
    assert not calls and fq._eager_work == 3 * fq.FUSE_MIN_NUMEL
    hw.fake_quant(big, 14, 16, 4)
    hw.fake_quant(torch.randn(100, 30), 14, 16, 4)  # small tensors stay eager
    assert len(calls) == 1


def _special_inputs(dtype: torch.dtype) -> torch.Tensor:
    g = _gen(4)
    x = torch.cat([
        torch.randn(5000, generator=g, dtype=torch.float64),
        torch.rand(5000, generator=g, dtype=torch.float64) * 1e-3,  # below 2^k after scaling
        torch.tensor([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 1e6, -1e6, 2**-14, -(2**-14)]),
        torch.arange(-40, 41, dtype=torch.float64) * 2**-14,  # every word around +-2^k
        torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5]) * 2**-14,  # exact ties
    ])
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fake_quant_matches_reference(dtype):
    x = _special_inputs(dtype)
    for fl, bits, k in [(14, 16, 4), (14, 16, None), (12, 16, 7), (5, 8, 3), (14, 16, 15)]:
        got = hw.fake_quant(x, fl, bits, k)
        assert got.dtype == dtype and got.shape == x.shape
        words = [ref.quantize(v, fl, bits) for v in x.tolist()]
        expected = [(w if k is None else ref.drum_t(w, k)) * 2.0**-fl for w in words]
        assert got.tolist() == expected


def test_fake_quant_compiled_and_eager_bit_identical(monkeypatch):
    g = _gen(5)
    for dtype in (torch.float32, torch.float64):
        x = torch.cat([_special_inputs(dtype), torch.randn(300, 70, generator=g).to(dtype).ravel()])
        for fl, bits, k in [(14, 16, 4), (14, 16, None), (10, 12, 6), (3, 8, 2), (20, 24, 23)]:
            fused, eager = _compiled_and_eager(monkeypatch, x, fl, bits, k)
            assert _bits_equal(fused, eager), (dtype, fl, bits, k)
    assert not fq._compile_failed


def _compiled_and_eager(monkeypatch, x, fl, bits, k):
    monkeypatch.setattr(fq, "_fused", True)
    fused = hw.fake_quant(x, fl, bits, k)
    monkeypatch.setattr(fq, "_fused", False)
    return fused, hw.fake_quant(x, fl, bits, k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fake_quant_every_16bit_word_every_k(monkeypatch, dtype):
    words = torch.arange(-(2**15), 2**15, dtype=dtype)
    for fl in (0, 14):
        for k in [None, *range(2, 16)]:
            fused, eager = _compiled_and_eager(monkeypatch, words * 2.0**-fl, fl, 16, k)
            assert _bits_equal(fused, eager), (fl, k)
            if k is not None:
                expected = hw.drum_transform(words.long(), k).to(dtype) * 2.0**-fl
                assert torch.equal(eager, expected)
    assert not fq._compile_failed


@pytest.mark.slow
def test_fake_quant_every_24bit_word_every_k(monkeypatch):
    words = torch.arange(-(2**23), 2**23, dtype=torch.float32)
    for k in range(2, 24):
        fused, eager = _compiled_and_eager(monkeypatch, words, 0, 24, k)
        assert _bits_equal(fused, eager), k


def test_fake_quant_compiles_once_for_all_shapes_and_formats():
    from torch._dynamo.utils import counters

    if not fq._fused:
        pytest.skip("fused path disabled")
    x = torch.randn(64, 33)
    hw.fake_quant(x, 14, 16, 4)
    if fq._compile_failed:
        pytest.skip("torch.compile unavailable here")
    graphs = counters["stats"]["unique_graphs"]
    for shape, fl, bits, k in [((17, 9), 10, 16, 5), ((3, 4, 5), 12, 12, 7),
                               ((1000,), 14, 16, None), ((64, 33), -2, 8, 3)]:
        hw.fake_quant(torch.randn(shape), fl, bits, k)
    hw.fake_quant(x[5:20], 14, 16, 4)  # a view with a storage offset
    hw.fake_quant(x.t(), 14, 16, 6)  # non-contiguous
    hw.fake_quant(torch.randn(20, 10, requires_grad=True), 14, 16, 4)
    hw.fake_quant(torch.randn(1), 14, 16, 4)  # size 1 runs eagerly
    hw.fake_quant(torch.randn(0), 14, 16, 4)
    assert counters["stats"]["unique_graphs"] == graphs


def test_fake_quant_falls_back_to_eager_when_compile_fails(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(fq, "_compiled", None)
    monkeypatch.setattr(fq, "_compile_failed", False)
    monkeypatch.setattr(fq, "_fused", True)
    x = torch.randn(50, 3)
    with caplog.at_level(logging.WARNING, logger=fq.__name__):
        first = hw.fake_quant(x, 14, 16, 4)
        second = hw.fake_quant(x, 14, 16, 4)
    assert fq._compile_failed
    assert len([r for r in caplog.records if "no compiler" in r.getMessage()]) == 1
    monkeypatch.setattr(fq, "_fused", False)
    assert _bits_equal(first, hw.fake_quant(x, 14, 16, 4)) and _bits_equal(first, second)


def test_fake_quant_switches(monkeypatch):
    calls = []

    def spy(*args):
        calls.append(args)
        return fq._fake_quant_fused(*args)

    monkeypatch.setattr(fq, "_compiled", spy)
    monkeypatch.setattr(fq, "_compile_failed", False)
    monkeypatch.setattr(fq, "_fused", True)
    x = torch.randn(10)
    hw.set_fused(False)
    assert not fq._fused
    hw.fake_quant(x, 14, 16, 4)
    hw.set_fused(True)
    monkeypatch.setenv("AXTRAIN_NO_COMPILE", "1")
    hw.fake_quant(x, 14, 16, 4)
    assert not calls
    monkeypatch.delenv("AXTRAIN_NO_COMPILE")
    hw.fake_quant(x, 14, 16, 4)
    assert len(calls) == 1


def test_fake_quant_shapes_and_autograd():
    x = torch.randn(6, 5, requires_grad=True)
    y = hw.fake_quant(x.t(), 14, 16, 4)  # non-contiguous input
    assert y.shape == (5, 6) and not y.requires_grad
    assert torch.equal(y, hw.fake_quant(x.t().contiguous(), 14, 16, 4))
    assert hw.fake_quant(torch.empty(0, 3), 14, 16, 4).shape == (0, 3)
    with pytest.raises(ValueError, match="float32 or float64"):
        hw.fake_quant(torch.ones(3, dtype=torch.float16), 14, 16, 4)


@pytest.mark.parametrize("k", [None, 3, 4, 7])
def test_float64_layer_equals_reference_integer_dot_products(k):
    g = _gen(6)
    x = torch.randn(5, 37, generator=g, dtype=torch.float64) * 10
    x[0, :4] = 0.0
    w = torch.randn(6, 37, generator=g, dtype=torch.float64) * 0.05
    fx, fw = hw.frac_length(x.abs().max(), 16), hw.frac_length(w.abs().max(), 16)
    y = F.linear(hw.fake_quant(x, fx, 16, k), hw.fake_quant(w, fw, 16, k)) * 2.0 ** (fx + fw)
    xq = [[ref.quantize(v, fx, 16) for v in row] for row in x.tolist()]
    wq = [[ref.quantize(v, fw, 16) for v in row] for row in w.tolist()]
    expected = [[float(ref.dot(xr, wr, k)) for wr in wq] for xr in xq]
    assert y.tolist() == expected


# ----------------------------------------------------------------------------- STE
def test_straight_through_forward_and_gradient():
    exact = torch.randn(4, 3, requires_grad=True)
    approx_src = torch.randn(4, 3, requires_grad=True)
    approx = approx_src * 2
    out = hw.straight_through(approx, exact)
    assert _bits_equal(out.detach(), approx.detach())
    grad_out = torch.tensor([[0.5, -0.99, 1.0], [-1.0, 2.0, -3.0], [0.0, 0.2, -0.2], [1.5, 0.9, 7]])
    out.backward(grad_out)
    assert torch.equal(exact.grad, grad_out * (grad_out.abs() < 1))
    assert exact.grad[0, 2] == 0 and exact.grad[1, 0] == 0 and exact.grad[0, 1] == -0.99
    assert approx_src.grad is None


@pytest.mark.parametrize("clip", [None, math.inf])
def test_straight_through_without_clipping(clip):
    exact = torch.randn(5, requires_grad=True)
    grad_out = torch.tensor([0.1, -5.0, 1.0, 30.0, -0.7])
    hw.straight_through(hw.fake_quant(exact, 14, 16, 4), exact, clip).backward(grad_out)
    assert torch.equal(exact.grad, grad_out)


def test_straight_through_custom_clip_and_errors():
    exact = torch.randn(3, requires_grad=True)
    hw.straight_through(exact.detach() + 1, exact, 0.5).backward(torch.tensor([0.4, 0.5, -0.6]))
    assert exact.grad.tolist() == pytest.approx([0.4, 0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        hw.straight_through(torch.zeros(2), exact)
    with pytest.raises(ValueError, match="clip=0"):
        hw.straight_through(torch.zeros(3), exact, 0)


# ----------------------------------------------------------------------------- power
def test_drum_power_fit():
    expected = {4: 0.14, 5: 0.20, 6: 0.27, 7: 0.36, 8: 0.46}
    for k, value in expected.items():
        assert hw.drum_power(k) == pytest.approx(value, abs=0.005)
    assert hw.drum_power(5) == pytest.approx(0.20) and hw.drum_power(8) == pytest.approx(0.46)
    assert hw.drum_power(20) == 1.0
    with pytest.raises(ValueError, match="k=1"):
        hw.drum_power(1)


def test_network_power():
    out = hw.network_power([100, 300], [110, 330], 0.2, 0.36)
    assert out == pytest.approx({"compute": 0.2, "storage": 0.36})
    out = hw.network_power([100, 300], [110, 330], [1.0, 0.2], [1.0, 0.36])
    assert out["compute"] == pytest.approx((100 + 300 * 0.2) / 400)
    assert out["storage"] == pytest.approx((110 + 330 * 0.36) / 440)
    with pytest.raises(ValueError, match="2 layers"):
        hw.network_power([1, 2], [1, 2], [0.5], 1.0)
    with pytest.raises(ValueError, match="positive sum"):
        hw.network_power([0, 0], [1, 2], 0.5, 1.0)


def test_reference_dot():
    assert ref.dot([3, -4], [5, 6]) == 15 - 24
    assert ref.dot([300, -4], [500, 6], 2) == ref.drum_mul(300, 500, 2) + ref.drum_mul(-4, 6, 2)
    with pytest.raises(ValueError, match="length"):
        ref.dot([1], [1, 2])
