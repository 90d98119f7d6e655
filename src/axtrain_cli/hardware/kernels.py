"""The operand kernel of the fast layers: quantise to fixed point and, optionally, apply the
DRUM-k operand transform, in one pass (`fake_quant`), as floats an ordinary GEMM can use.

`leading_bits(q, k)` is T_k on an integer-valued float tensor by the IEEE bit trick:
IEEE floats are sign-magnitude, so for |q| >= 2^k keeping the exponent and the top k-1
mantissa bits and setting the next one is ((|q| >> s) | 1) << s with the sign kept.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor

from .fixed_point import check_format, quantize

log = logging.getLogger(__name__)

MIN_K, MAX_K = 2, 23
MANTISSA = {torch.float32: (torch.int32, 23), torch.float64: (torch.int64, 52)}


def check_k(k: int, bits: int | None = None) -> None:
    """Raise ValueError unless k is an int in [2, min(23, bits - 1)]."""
    hi = MAX_K if bits is None else min(MAX_K, bits - 1)
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= hi:
        raise ValueError(f"DRUM k={k!r} is out of range; allowed range [{MIN_K}, {hi}]")


def leading_bits(q: Tensor, k: int) -> Tensor:
    """T_k of every element of an integer-valued float32/float64 tensor (sign kept)."""
    if q.dtype not in MANTISSA:
        raise ValueError(f"dtype={q.dtype} is not supported; use float32 or float64")
    int_type, mantissa = MANTISSA[q.dtype]
    low = mantissa + 1 - k  # mantissa bits below the lowest kept bit
    kept = (q.view(int_type) & ~((1 << low) - 1)).bitwise_or_(1 << low)  # one new tensor
    return torch.where(q.abs() < 2**k, q, kept.view(q.dtype))


def _fake_quant_fused(x: Tensor, scale: float, inv_scale: float, lo: int, hi: int,
                      limit: int, split_1: float, split_k: float, half_step: float) -> Tensor:
    """fake_quant's body for torch.compile, with T_k in float arithmetic only.

    Inductor runs bitcasts element by element but vectorises +, -, * and compares, so T_k
    uses Veltkamp splitting instead of the bit trick: with g = m * (2^s + 1),
    g - (g - m) is m rounded to nearest with p - s significant bits (p = 24 or 53; exact in
    round-to-nearest arithmetic without FMA contraction, which inductor disables).
    Rounding m to 1 bit gives 2^t or 2^(t+1), hence h = 2^(t-k+1); rounding it to k-1 bits
    gives r, a multiple of 2h within h of m, so T_k(m) = r - h if r > m else r + h.
    """
    q = torch.round(x * scale).clamp(lo, hi)
    m = q.abs()
    g = m * split_1
    lead = g - (g - m)
    h = torch.where(lead > m, lead * (half_step * 0.5), lead * half_step)
    g = m * split_k
    r = g - (g - m)
    t = torch.where(r > m, r - h, r + h)
    return torch.where(m < limit, q, torch.copysign(t, q)) * inv_scale


_fused = True
_compile_failed = False
_compiled = None
# Compiling costs about 3.5 s once per process (2 cores) and saves about 2 to 7 ns per
# element of a large tensor (2^18 elements or more; smaller ones stay eager whatever).
# So a process compiles only after it has transformed COMPILE_AFTER elements of large
# tensors eagerly (about 4 s of eager work): small runs never pay for it, long ones do
# once. Both paths give bit-identical results.
FUSE_MIN_NUMEL = 1 << 18
COMPILE_AFTER = 1 << 30
_eager_work = 0


def set_fused(enabled: bool) -> None:
    """Switch the torch.compile fast path of :func:`fake_quant` on or off (eager when off)."""
    global _fused
    _fused = bool(enabled)


def _flat_alias(x: Tensor) -> Tensor:
    """x's elements as a 1-D tensor sharing memory that is not a view: torch.compile then
    guards nothing about x's shape or base tensor, so no new shape recompiles."""
    x = x.detach().contiguous()
    return torch.empty(0, dtype=x.dtype, device=x.device).set_(
        x.untyped_storage(), x.storage_offset(), (x.numel(),), (1,))


def _try_fused(x: Tensor, fl: int, bits: int, k: int | None) -> Tensor | None:
    """The compiled kernel's result, or None if it is off or unavailable (warns once)."""
    global _compile_failed, _compiled, _eager_work
    if not _fused or _compile_failed or os.environ.get("AXTRAIN_NO_COMPILE") == "1":
        return None
    if x.numel() < FUSE_MIN_NUMEL:  # small tensors: eager is fast, compiling is not
        return None
    if _compiled is None and _eager_work < COMPILE_AFTER:  # not yet worth compiling
        _eager_work += x.numel()
        return None
    mantissa = MANTISSA[x.dtype][1]
    kk = MIN_K if k is None else k
    limit = 2**bits if k is None else 2**k  # k None: above every word, T is the identity
    try:
        if _compiled is None:
            _compiled = torch.compile(_fake_quant_fused, dynamic=True)
        out = _compiled(_flat_alias(x), 2.0**fl, 2.0**-fl, -(2 ** (bits - 1)),
                        2 ** (bits - 1) - 1, limit, 2.0**mantissa + 1,
                        2.0 ** (mantissa + 2 - kk) + 1, 2.0 ** (1 - kk))
    except Exception as exc:  # no C++ compiler, unsupported platform, ...
        _compile_failed = True
        log.warning("torch.compile of fake_quant failed (%s: %s); using eager mode from now on",
                    type(exc).__name__, exc)
        return None
    return out.view(x.shape)


def fake_quant(x: Tensor, fl: int, bits: int, k: int | None = None) -> Tensor:
    """The operand as the accelerator sees it: T_k(quantize(x, fl, bits)) * 2^-fl, as floats.

    k None means exact multipliers (quantisation only). x is float32 or float64; the result
    has x's dtype and shape and carries no gradient (wrap it with `straight_through`).
    Runs a torch.compile'd kernel (one compilation for all shapes, fl, bits and k; bit-identical
    to the eager path) once the process has done COMPILE_AFTER elements of eager work on
    large tensors, unless disabled by :func:`set_fused`, AXTRAIN_NO_COMPILE=1, or a failed
    compilation.
    """
    check_format(bits)
    if k is not None:
        check_k(k, bits)
    if x.dtype not in MANTISSA:
        raise ValueError(f"fake_quant needs float32 or float64 input, got dtype={x.dtype}")
    with torch.no_grad():
        out = _try_fused(x, fl, bits, k)
        if out is None:
            q = quantize(x.detach(), fl, bits)
            out = (q if k is None else leading_bits(q, k)).mul_(2.0**-fl)
    return out
