"""Leading-one truncation: each operand magnitude keeps its k leading bits, the rest are
cleared (DRUM-k without the forced lowest bit, so it always rounds magnitudes down: a
biased multiplier whose errors add up in a neuron's sum instead of cancelling). Smaller
magnitudes (< 2^k) are exact. Separable: T(a) * T(b), one transform per operand and an
ordinary GEMM, like DRUM."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import circuits, reference
from ..fixed_point import quantize
from ..kernels import MANTISSA
from .base import MULTIPLIERS, SeparableMultiplier, require_power
from .drum import drum_power, require_k


def truncate_bits(q: Tensor, k: int) -> Tensor:
    """The k leading bits of every element of an integer-valued float32/float64 tensor
    (sign kept): IEEE floats are sign-magnitude with a normalised mantissa, so clearing the
    mantissa bits below the top k - 1 is the truncation (exact for |q| < 2^k, zero stays 0)."""
    int_type, mantissa = MANTISSA[q.dtype]
    return (q.view(int_type) & ~((1 << (mantissa + 1 - k)) - 1)).view(q.dtype)


@MULTIPLIERS.register
@dataclass(frozen=True)
class Truncation(SeparableMultiplier):
    """k leading bits of each operand magnitude, the rest cleared (biased: rounds down)."""

    name = "truncation"
    k: int
    relative_power: float | None = None  # None: the DRUM-k proxy (the same k x k core)

    def check(self, bits):
        require_k(self.k, bits)
        require_power(self.relative_power, "the DRUM-k proxy")

    def transform(self, q):
        if not q.is_floating_point():
            return truncate_bits(q.to(torch.float64), self.k).to(torch.int64)
        return truncate_bits(q, self.k)

    def reference_transform(self, x):
        return reference.trunc_t(x, self.k)

    def power(self):
        return drum_power(self.k) if self.relative_power is None else self.relative_power

    def circuit(self, bits):
        return circuits.leading_bits(bits, self.k, force_one=False)

    def operand(self, x, fl, bits):
        with torch.no_grad():
            return truncate_bits(quantize(x.detach(), fl, bits), self.k).mul_(2.0**-fl)
