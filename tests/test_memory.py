"""Memory models: independent bit flips (flip_bits, the `flips` memory) and reliable storage,
against the plain-integer reference."""

from __future__ import annotations

import math

import pytest
import torch

from axtrain_cli import hardware as hw
from axtrain_cli.hardware import reference as ref
from axtrain_cli.hardware.memories import flips


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_words(n: int, bits: int, seed: int = 7) -> torch.Tensor:
    return torch.randint(-(2 ** (bits - 1)), 2 ** (bits - 1), (n,), generator=_gen(seed))


def test_flip_bits_p0_is_identity_without_drawing():
    words = _random_words(1000, 16).view(10, 100)
    g = _gen(8)
    state = g.get_state()
    out = hw.flip_bits(words, 0.0, 16, g)
    assert torch.equal(out, words) and out.data_ptr() != words.data_ptr()
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("bits", [2, 8, 16, 24])
def test_flip_bits_p1_is_bitwise_not(bits):
    words = _random_words(5000, bits)
    assert torch.equal(hw.flip_bits(words, 1.0, bits, _gen(9)), ~words)


def _flip_mask(words: torch.Tensor, flipped: torch.Tensor, bits: int) -> torch.Tensor:
    return (words ^ flipped) & (2**bits - 1)


@pytest.mark.parametrize("p", [0.001, 0.01, 0.1, 0.5])
def test_flip_bits_rate_per_position(p):
    bits, n = 16, 200_000
    words = _random_words(n, bits)
    flipped = hw.flip_bits(words, p, bits, _gen(10))
    half = 2 ** (bits - 1)
    assert flipped.shape == words.shape and flipped.dtype == torch.int64
    assert flipped.min() >= -half and flipped.max() < half
    mask = _flip_mask(words, flipped, bits)
    sigma = math.sqrt(n * p * (1 - p))
    for i in range(bits):
        count = ((mask >> i) & 1).sum().item()
        assert abs(count - n * p) < 5 * sigma, (i, count)
    # independence across the bits of a word: words left untouched ~ (1-p)^bits
    p0 = (1 - p) ** bits
    untouched = (mask == 0).sum().item()
    assert abs(untouched - n * p0) < 5 * math.sqrt(n * p0 * (1 - p0)) + 1


def test_flip_bits_geometric_chunks(monkeypatch):
    monkeypatch.setattr(flips, "_CHUNK", 1000)  # many chunks of gaps
    bits, n, p = 16, 50_000, 0.05
    words = _random_words(n, bits)
    mask = _flip_mask(words, hw.flip_bits(words, p, bits, _gen(11)), bits)
    total = sum(((mask >> i) & 1).sum().item() for i in range(bits))
    assert abs(total - n * bits * p) < 5 * math.sqrt(n * bits * p * (1 - p))
    last = ((mask >> (bits - 1)) & 1)[-n // 10:].sum().item()  # the tail of the words is reached
    assert abs(last - n // 10 * p) < 5 * math.sqrt(n // 10 * p)


@pytest.mark.parametrize("p", [0.003, 0.6])
def test_flip_bits_seeded(p):
    words = _random_words(20_000, 16).view(200, 100)
    a = hw.flip_bits(words, p, 16, _gen(12))
    assert torch.equal(a, hw.flip_bits(words, p, 16, _gen(12)))
    assert not torch.equal(a, hw.flip_bits(words, p, 16, _gen(13)))
    g = _gen(12)
    assert not torch.equal(hw.flip_bits(words, p, 16, g), hw.flip_bits(words, p, 16, g))


@pytest.mark.parametrize("bits, p", [(16, 0.05), (8, 0.3), (5, 0.2)])
def test_flip_bits_matches_reference_flip(bits, p):
    words = _random_words(3000, bits)
    flipped = hw.flip_bits(words, p, bits, _gen(14))
    masks = _flip_mask(words, flipped, bits)
    expected = [ref.flip(w, m, bits) for w, m in zip(words.tolist(), masks.tolist())]
    assert flipped.tolist() == expected


def test_reference_flip_examples():
    assert ref.flip(0, 0b1000, 4) == -8
    assert ref.flip(-1, 0b0001, 4) == -2
    assert ref.flip(-8, 0b1111, 4) == 7
    assert ref.flip(5, 0, 8) == 5
    with pytest.raises(ValueError, match="mask=16"):
        ref.flip(0, 16, 4)


def test_flip_bits_rejects_bad_input():
    words = _random_words(10, 8)
    for p in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=rf"p={p}.*\[0, 1\]"):
            hw.flip_bits(words, p, 8, _gen(0))
    with pytest.raises(ValueError, match=r"\[-128, 127\]"):
        hw.flip_bits(torch.tensor([128]), 0.1, 8, _gen(0))
    with pytest.raises(ValueError, match="int64"):
        hw.flip_bits(words.int(), 0.1, 8, _gen(0))
    with pytest.raises(ValueError, match="bits=1"):
        hw.flip_bits(words, 0.1, 1, _gen(0))


def test_flips_memory_reads_trials_independently():
    words = _random_words(35, 16).view(7, 5)
    mem = hw.Flips(voltage_mv=660, rate=0.1)
    reads = mem.read(words, 16, 4, _gen(16))
    assert reads.shape == (4, 7, 5) and reads.dtype == torch.int64
    assert not torch.equal(reads[0], reads[1])  # independent trials
    for t in range(4):
        mask = _flip_mask(words, reads[t], 16)
        assert 0 < mask.ne(0).sum() < words.numel()
    one = mem.read(words, 16, None, _gen(16))  # pas: one read, the words' own shape
    assert one.shape == words.shape
    assert torch.equal(hw.Flips(voltage_mv=850, rate=0.0).read(words, 16, 3, _gen(0)),
                       words.expand(3, 7, 5))


def test_reliable_memory_and_power():
    words = _random_words(12, 8).view(3, 4)
    assert hw.RELIABLE.read(words, 8, None, None) is words
    assert torch.equal(hw.RELIABLE.read(words, 8, 5, None), words.expand(5, 3, 4))
    assert hw.RELIABLE.nominal and not hw.RELIABLE.stochastic
    assert hw.RELIABLE.power(1100) == 1.0
    assert hw.Reliable(voltage_mv=550).power(1100) == pytest.approx(0.25)
    assert hw.Flips(voltage_mv=660, rate=0.01).power(1100) == pytest.approx(0.36)


def test_sram_power():
    assert hw.sram_power(1100) == 1.0
    for mv, value in {850: 0.597, 660: 0.360, 400: 0.132}.items():
        assert hw.sram_power(mv) == pytest.approx(value, abs=0.0005)
    assert hw.sram_power(500, 1000) == 0.25
    with pytest.raises(ValueError, match="voltage_mv=-1"):
        hw.sram_power(-1)
