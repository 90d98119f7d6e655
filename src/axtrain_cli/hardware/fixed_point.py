"""Dynamic fixed point: two's complement words of ``bits`` bits with a per-tensor fraction
length FL; a real value x is stored as the word round(x * 2^FL) (half to even), saturated
to [-2^(bits-1), 2^(bits-1) - 1]."""

from __future__ import annotations

import math

import torch
from torch import Tensor

MIN_BITS, MAX_BITS = 2, 24  # float32 must hold every word exactly


def check_format(bits: int) -> None:
    """Raise ValueError unless ``bits`` is an int word length in [2, 24]."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits={bits!r} is not a supported word length; allowed range "
                         f"[{MIN_BITS}, {MAX_BITS}] (float32 must hold every word exactly)")


def frac_length(max_abs: float, bits: int) -> int:
    """Fraction length FL = bits - 1 - ceil(log2(max_abs)) for data whose largest |x| is max_abs.

    ceil(log2) is computed exactly (frexp). Every |x| <= max_abs then fits the word, except
    that +max_abs saturates by at most one LSB when max_abs * 2^FL rounds to 2^(bits-1)
    (e.g. max_abs an exact power of two); -max_abs is always representable.
    max_abs == 0 gives bits - 1. FL may be negative or exceed bits - 1.
    """
    check_format(bits)
    max_abs = float(max_abs)
    if not (math.isfinite(max_abs) and max_abs >= 0.0):
        raise ValueError(f"max_abs={max_abs!r} must be a finite number >= 0")
    if max_abs == 0.0:
        return bits - 1
    mant, exp = math.frexp(max_abs)  # max_abs = mant * 2^exp, mant in [0.5, 1)
    return bits - 1 - (exp - 1 if mant == 0.5 else exp)


def quantize(x: Tensor, fl: int, bits: int) -> Tensor:
    """Integer-valued tensor round(x * 2^fl) (half to even), saturated to the bits-bit range."""
    check_format(bits)
    return torch.mul(x, 2.0**fl).round_().clamp_(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def to_words(x: Tensor, fl: int, bits: int) -> Tensor:
    """Two's complement words of x (int64 tensor) in the format (fl, bits)."""
    return quantize(x, fl, bits).to(torch.int64)


def from_words(words: Tensor, fl: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Real values words * 2^-fl as a ``dtype`` tensor."""
    return words.to(dtype) * 2.0**-fl
