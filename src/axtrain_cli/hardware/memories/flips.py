"""Near-threshold SRAM with independent bit flips: at every read (every trial of the sweep,
every pas training step) each stored bit flips independently with probability `rate`
(the paper: 10 % at 400 mV, 1 % at 660 mV, 0.1 % at 850 mV)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import reference
from ..fixed_point import check_format
from ..plugin import is_number, require
from .base import MEMORIES, Memory

_GEOMETRIC_MAX_P = 0.25  # above this, one uniform draw per bit instead of geometric gaps
_CHUNK = 1 << 22  # draws per step, bounds the memory used


def draw_device(generator: torch.Generator | None) -> torch.device:
    """Where draws from `generator` are made (None: torch's default CPU generator)."""
    return generator.device if generator is not None else torch.device("cpu")


def _flip_masks(n_words: int, p: float, bits: int, generator: torch.Generator) -> Tensor:
    """int64 XOR masks, one per word, each of its ``bits`` bits set with probability p.

    The n_words * bits bit cells are numbered word-major (cell = word * bits + bit); the
    flipped cells are a Bernoulli(p) process over that numbering, drawn as iid geometric
    gaps (a handful of vectorised draws whatever the word count) or, for p above
    _GEOMETRIC_MAX_P, one uniform per cell."""
    device = draw_device(generator)  # drawn where the generator lives
    masks = torch.zeros(n_words, dtype=torch.int64, device=device)
    cells = n_words * bits
    if p <= 0.0:  # nothing flips (and log1p(-p) would be 0)
        return masks
    if p > _GEOMETRIC_MAX_P:
        place = torch.tensor([1 << b for b in range(bits)], dtype=torch.int64, device=device)
        rows = max(1, _CHUNK // bits)
        for start in range(0, n_words, rows):
            hit = torch.rand(min(rows, n_words - start), bits, generator=generator,
                             device=device) < p
            masks[start:start + rows] = (hit * place).sum(-1)
        return masks
    # gaps between flipped cells are iid geometric on {1, 2, ...}:
    # floor(log(u) / log(1 - p)) + 1 with u uniform (P(gap > j) = (1-p)^j)
    expected = cells * p
    size = min(_CHUNK, int(expected + 6.0 * math.sqrt(expected) + 16))
    last = -1  # the last flipped cell so far
    while last < cells:
        u = torch.rand(size, dtype=torch.float64, generator=generator, device=device)
        gaps = torch.floor_(u.log_().div_(math.log1p(-p))).add_(1).clamp_(max=cells + 1)
        pos = gaps.to(torch.int64).cumsum_(0).add_(last)
        last = int(pos[-1])
        pos = pos[pos < cells]
        masks.index_put_((pos // bits,), torch.bitwise_left_shift(1, pos % bits),
                         accumulate=True)
    return masks


def flip_bits(words: Tensor, p: float, bits: int, generator: torch.Generator) -> Tensor:
    """Flip every bit of every bits-bit two's complement word independently with probability p.

    words: int64 tensor with values in [-2^(bits-1), 2^(bits-1) - 1]; the result has the same
    shape and range (sign-extended). p == 0 returns a copy without drawing. Flip positions
    are drawn from ``generator`` only (sparse geometric gaps for p <= 0.25, one uniform per
    bit above), so the same generator state gives the same flips.
    """
    check_format(bits)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"flip probability p={p!r} is out of range; allowed range [0, 1]")
    if words.dtype != torch.int64:
        raise ValueError(f"words dtype={words.dtype} must be torch.int64")
    half = 2 ** (bits - 1)
    if words.numel():
        lo, hi = torch.aminmax(words)
        if lo < -half or hi >= half:
            raise ValueError(f"words must lie in [{-half}, {half - 1}] for bits={bits}, "
                             f"got [{int(lo)}, {int(hi)}]")
    if p == 0.0:
        return words.clone()
    masks = _flip_masks(words.numel(), float(p), bits, generator).view(words.shape)
    return xor_words(words, masks.to(words.device), bits)  # (a CPU generator's draws: moved)


def xor_words(words: Tensor, masks: Tensor, bits: int) -> Tensor:
    """The bits-bit two's complement words with `masks` XORed into their patterns,
    sign-extended (masks: int64 of words' shape, bits above `bits` unset; consumed)."""
    half = 2 ** (bits - 1)
    out = masks.bitwise_xor_(words & (2 * half - 1))  # flipped bits-bit pattern
    return out.bitwise_xor_(half).sub_(half)  # sign-extend from bit bits-1


@MEMORIES.register
@dataclass(frozen=True)
class Flips(Memory):
    """SRAM at `voltage_mv` where every stored bit flips with probability `rate` at each read."""

    name = "flips"
    voltage_mv: float
    rate: float

    def check(self, bits):
        self.check_voltage()
        require("rate", self.rate, is_number(self.rate) and 0 <= self.rate <= 1,
                "a probability in [0, 1]")

    def read(self, words, bits, trials, generator):
        words = self.copies(words, trials).contiguous()
        return flip_bits(words, float(self.rate), bits, generator)

    def reference(self, word, bits, uniforms):
        mask = sum(1 << i for i, u in enumerate(uniforms[:bits]) if u < self.rate)
        return reference.flip(word, mask, bits)
