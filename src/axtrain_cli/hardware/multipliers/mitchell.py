"""Mitchell's logarithmic multiplier (J. N. Mitchell, "Computer multiplication and division
using binary logarithms", IRE Trans. Electronic Computers, 1962) on the fixed-point words,
sign-magnitude with an XOR sign. With |a| = 2^ka (1 + xa) and |b| = 2^kb (1 + xb) it adds
the piecewise-linear logarithms ka + xa and kb + xb and takes the piecewise-linear
antilog: 2^(ka+kb) (1 + xa + xb) if xa + xb < 1, else 2^(ka+kb+1) (xa + xb). It never
overestimates: for uniform operands the mean error is about -3.8 %, the worst -11.1 %
(xa = xb = 1/2).

Not separable (the case depends on both operands): a layer sums `products` over every
multiplication (the general path, exact in int64)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import circuits, reference
from .base import MULTIPLIERS, Multiplier, require_power

# Power proxy: a log multiplier replaces the partial-product array with two leading-one
# detectors, shifters and an adder; relative power about 0.5 of an exact array multiplier
# of the same width is a round figure from the approximate-multiplier literature, not a
# measurement for this word size. Set `relative_power` from your own synthesis results.
MITCHELL_POWER = 0.5


def leading_one(m: Tensor) -> Tensor:
    """floor(log2 m) of every positive element of an int64 tensor (|m| < 2^53), exactly:
    the exponent field of the float64 value (integers below 2^53 are exact there)."""
    return (m.to(torch.float64).view(torch.int64) >> 52) - 1023


def mitchell_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise Mitchell products of int64 tensors (broadcasting), int64."""
    x, y = a.abs(), b.abs()
    ka, kb = leading_one(x.clamp(min=1)), leading_one(y.clamp(min=1))
    s = ((x - (1 << ka)) << kb) + ((y - (1 << kb)) << ka)
    base = 1 << (ka + kb)
    magnitude = torch.where(s < base, base + s, 2 * s)
    magnitude = torch.where((x == 0) | (y == 0), 0, magnitude)
    return torch.where((a < 0) != (b < 0), -magnitude, magnitude)


@MULTIPLIERS.register
@dataclass(frozen=True)
class Mitchell(Multiplier):
    """Mitchell's logarithmic multiplier on the magnitudes (underestimates, mean -3.8 %)."""

    name = "mitchell"
    relative_power: float = MITCHELL_POWER

    def check(self, bits):
        require_power(self.relative_power)

    def reference(self, a, b):
        return reference.mitchell_mul(a, b)

    def products(self, a, b):
        return mitchell_multiply(a, b)

    def power(self):
        return float(self.relative_power)

    def circuit(self, bits):
        return circuits.mitchell(bits)
