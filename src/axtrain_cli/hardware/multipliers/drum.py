"""DRUM-k (Hashemi, Bahar, Reda, ICCAD 2015), sign-magnitude with an XOR sign: each operand
magnitude x >= 2^k keeps its k leading bits with the lowest kept bit forced to 1,
T_k(x) = ((x >> s) | 1) << s with s = floor(log2 x) - k + 1; smaller magnitudes are exact.
The product is T_k(a) * T_k(b): separable, so a layer is "transform every operand once
(`fake_quant`, torch.compile'd for large tensors), then an ordinary GEMM"."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import circuits, reference
from ..kernels import check_k, fake_quant, leading_bits
from ..plugin import require
from .base import MULTIPLIERS, SeparableMultiplier


def drum_transform(q: Tensor, k: int) -> Tensor:
    """T_k applied to the magnitude of every element of q, sign kept.

    q is an integer tensor (|q| < 2^53; the result is int64, as T_k can exceed the input
    word's range) or a float32/float64 tensor holding integers (|q| < 2^24 for float32;
    the result keeps q's dtype).
    """
    check_k(k)
    if not q.is_floating_point():
        return leading_bits(q.to(torch.float64), k).to(torch.int64)
    return leading_bits(q, k)


def drum_multiply(a: Tensor, b: Tensor, k: int) -> Tensor:
    """Elementwise DRUM-k products of integer tensors, exact int64 (sign = sign(a) XOR sign(b))."""
    return drum_transform(a.to(torch.int64), k) * drum_transform(b.to(torch.int64), k)


# P(k) = a + b k^2 through (5, 0.20) and (8, 0.46): the DRUM paper's power savings of 80 %
# and 54 % vs an exact 16x16 multiplier (configurations matching k=5 and k=8 by their error
# standard deviations). Derived, not published per k.
_DRUM_B = (0.46 - 0.20) / (8**2 - 5**2)
_DRUM_A = 0.20 - _DRUM_B * 5**2


def drum_power(k: int) -> float:
    """Power of a DRUM-k multiplier relative to an exact 16x16 one, capped at 1.0.

    Proxy a + b k^2 fitted through the DRUM paper's (ICCAD 2015) extremes, relative power
    0.20 (k=5) and 0.46 (k=8): k=4 0.14, 5 0.20, 6 0.27, 7 0.36, 8 0.46. Not published per k.
    """
    check_k(k)
    return min(1.0, _DRUM_A + _DRUM_B * k * k)


def require_k(k, bits: int) -> None:
    """The `k` parameter (leading bits kept) of a DRUM-like model for `bits`-bit words."""
    require("k", k, isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= bits - 1,
            f"an integer k in [2, {bits - 1}] (hardware.bits - 1)")


@MULTIPLIERS.register
@dataclass(frozen=True)
class Drum(SeparableMultiplier):
    """DRUM-k: k leading bits of each operand magnitude, the lowest kept bit forced to 1."""

    name = "drum"
    k: int

    def check(self, bits):
        require_k(self.k, bits)

    def transform(self, q):
        return drum_transform(q, self.k)

    def reference_transform(self, x):
        return reference.drum_t(x, self.k)

    def power(self):
        return drum_power(self.k)

    def circuit(self, bits):
        return circuits.leading_bits(bits, self.k, force_one=True)

    def operand(self, x, fl, bits):
        return fake_quant(x, fl, bits, self.k)
