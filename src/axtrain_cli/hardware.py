"""Numerical hardware models of the AxTrain accelerator (pure functions on torch tensors).

- Dynamic fixed point: two's complement words of ``bits`` bits with a per-tensor fraction
  length FL; a real value x is stored as the word round(x * 2^FL) (half to even),
  saturated to [-2^(bits-1), 2^(bits-1) - 1].
- DRUM-k multiplier (Hashemi et al., ICCAD 2015), sign-magnitude with an XOR sign: each
  operand magnitude x >= 2^k keeps its k leading bits with the lowest kept bit forced to 1,
  T_k(x) = ((x >> s) | 1) << s with s = floor(log2 x) - k + 1; smaller magnitudes are
  exact. The product is T_k(a) * T_k(b), so an approximate GEMM is "transform every
  operand once, then an ordinary GEMM" (:func:`fake_quant`).
- Near-threshold SRAM: every stored bit flips independently with probability p
  (:func:`flip_bits`, :func:`ntv_store`).
- Straight-through estimator (AxTrain Eq. 12 as reconstructed): forward uses the hardware
  value, backward passes grad_out * 1{|grad_out| < clip} to the exact operand.
- Power proxies for multipliers and SRAM (see docs/environment notes).

The slow, independent integer reference for all of this is :mod:`axtrain_cli.reference`.
"""

from __future__ import annotations

import logging
import math
import os

import torch
from torch import Tensor

log = logging.getLogger(__name__)

MIN_BITS, MAX_BITS = 2, 24  # float32 must hold every word exactly
MIN_K, MAX_K = 2, 23
_MANTISSA = {torch.float32: (torch.int32, 23), torch.float64: (torch.int64, 52)}


# ----------------------------------------------------------------------------- fixed point
def check_format(bits: int) -> None:
    """Raise ValueError unless ``bits`` is an int word length in [2, 24]."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits={bits!r} is not a supported word length; allowed range "
                         f"[{MIN_BITS}, {MAX_BITS}] (float32 must hold every word exactly)")


def _check_k(k: int, bits: int | None = None) -> None:
    hi = MAX_K if bits is None else min(MAX_K, bits - 1)
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= hi:
        raise ValueError(f"DRUM k={k!r} is out of range; allowed range [{MIN_K}, {hi}]")


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
    return torch.round(x * 2.0**fl).clamp_(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def to_words(x: Tensor, fl: int, bits: int) -> Tensor:
    """Two's complement words of x (int64 tensor) in the format (fl, bits)."""
    return quantize(x, fl, bits).to(torch.int64)


def from_words(words: Tensor, fl: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Real values words * 2^-fl as a ``dtype`` tensor."""
    return words.to(dtype) * 2.0**-fl


# ----------------------------------------------------------------------------- DRUM-k
def _drum_float(q: Tensor, k: int) -> Tensor:
    """T_k on an integer-valued float32/float64 tensor by the IEEE bit trick.

    IEEE floats are sign-magnitude: for |q| >= 2^k, keeping the exponent and the top k-1
    mantissa bits and setting the next one is T_k with the sign kept.
    """
    if q.dtype not in _MANTISSA:
        raise ValueError(f"dtype={q.dtype} is not supported; use float32 or float64")
    int_type, mantissa = _MANTISSA[q.dtype]
    low = mantissa + 1 - k  # mantissa bits below the lowest kept bit
    kept = (q.view(int_type) & ~((1 << low) - 1)) | (1 << low)
    return torch.where(q.abs() < 2**k, q, kept.view(q.dtype))


def drum_transform(q: Tensor, k: int) -> Tensor:
    """T_k applied to the magnitude of every element of q, sign kept.

    q is an integer tensor (|q| < 2^53; the result is int64, as T_k can exceed the input
    word's range) or a float32/float64 tensor holding integers (|q| < 2^24 for float32;
    the result keeps q's dtype).
    """
    _check_k(k)
    if not q.is_floating_point():
        return _drum_float(q.to(torch.float64), k).to(torch.int64)
    return _drum_float(q, k)


def drum_multiply(a: Tensor, b: Tensor, k: int) -> Tensor:
    """Elementwise DRUM-k products of integer tensors, exact int64 (sign = sign(a) XOR sign(b))."""
    return drum_transform(a.to(torch.int64), k) * drum_transform(b.to(torch.int64), k)


# ----------------------------------------------------------------------------- fake_quant
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
# Below this many elements fake_quant stays eager: compiling costs seconds once per process
# and only pays off on large activation matrices (e.g. MNIST batches of thousands).
FUSE_MIN_NUMEL = 1 << 18


def set_fused(enabled: bool) -> None:
    """Switch the torch.compile fast path of :func:`fake_quant` on or off (eager when off)."""
    global _fused
    _fused = bool(enabled)


def _flat_alias(x: Tensor) -> Tensor:
    """x's elements as a 1-D tensor sharing memory that is not a view: torch.compile then
    guards nothing about x's shape or base tensor, so no new shape recompiles."""
    x = x.detach().contiguous()
    return torch.empty(0, dtype=x.dtype).set_(
        x.untyped_storage(), x.storage_offset(), (x.numel(),), (1,))


def _try_fused(x: Tensor, fl: int, bits: int, k: int | None) -> Tensor | None:
    """The compiled kernel's result, or None if it is off or unavailable (warns once)."""
    global _compile_failed, _compiled
    if not _fused or _compile_failed or os.environ.get("AXTRAIN_NO_COMPILE") == "1":
        return None
    if x.numel() < FUSE_MIN_NUMEL:  # small tensors: eager is fast, compiling is not
        return None
    mantissa = _MANTISSA[x.dtype][1]
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
    has x's dtype and shape and carries no gradient (wrap it with :func:`straight_through`).
    Runs a torch.compile'd kernel (one compilation for all shapes, fl, bits and k; bit-identical
    to the eager path) unless disabled by :func:`set_fused`, AXTRAIN_NO_COMPILE=1, or a failed
    compilation.
    """
    check_format(bits)
    if k is not None:
        _check_k(k, bits)
    if x.dtype not in _MANTISSA:
        raise ValueError(f"fake_quant needs float32 or float64 input, got dtype={x.dtype}")
    with torch.no_grad():
        out = _try_fused(x, fl, bits, k)
        if out is None:
            q = quantize(x.detach(), fl, bits)
            out = (q if k is None else _drum_float(q, k)).mul_(2.0**-fl)
    return out


# ----------------------------------------------------------------------------- NTV SRAM
_GEOMETRIC_MAX_P = 0.25  # above this, one uniform draw per bit instead of geometric gaps
_CHUNK = 1 << 22  # draws per step, bounds the memory used


def _flip_masks(n_words: int, p: float, bits: int, generator: torch.Generator) -> Tensor:
    """int64 XOR masks, one per word, each of its ``bits`` bits set with probability p.

    The n_words * bits bit cells are numbered word-major (cell = word * bits + bit); the
    flipped cells are a Bernoulli(p) process over that numbering, drawn as iid geometric
    gaps (a handful of vectorised draws whatever the word count) or, for p above
    _GEOMETRIC_MAX_P, one uniform per cell."""
    masks = torch.zeros(n_words, dtype=torch.int64)
    cells = n_words * bits
    if p > _GEOMETRIC_MAX_P:
        place = torch.tensor([1 << b for b in range(bits)], dtype=torch.int64)
        rows = max(1, _CHUNK // bits)
        for start in range(0, n_words, rows):
            hit = torch.rand(min(rows, n_words - start), bits, generator=generator) < p
            masks[start:start + rows] = (hit * place).sum(-1)
        return masks
    # gaps between flipped cells are iid geometric on {1, 2, ...}:
    # floor(log(u) / log(1 - p)) + 1 with u uniform (P(gap > j) = (1-p)^j)
    expected = cells * p
    size = min(_CHUNK, int(expected + 6.0 * math.sqrt(expected) + 16))
    last = -1  # the last flipped cell so far
    while last < cells:
        u = torch.rand(size, dtype=torch.float64, generator=generator)
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
    out = masks.bitwise_xor_(words & (2 * half - 1))  # flipped bits-bit pattern
    return out.bitwise_xor_(half).sub_(half)  # sign-extend from bit bits-1


def ntv_store(w: Tensor, fl: int, bits: int, p: float, trials: int,
              generator: torch.Generator) -> Tensor:
    """``trials`` independent near-threshold reads of w: shape (trials, *w.shape), w's dtype.

    w is quantised to words (fl, bits); each trial's copy has its bits flipped with
    probability p (:func:`flip_bits`), then is scaled back to floats.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials={trials!r} must be an int >= 1")
    words = to_words(w.detach(), fl, bits).expand(trials, *w.shape).contiguous()
    dtype = w.dtype if w.is_floating_point() else torch.float32
    return from_words(flip_bits(words, p, bits, generator), fl, dtype)


# ----------------------------------------------------------------------------- STE
class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, approx, exact, clip):
        ctx.clip = clip
        return approx.detach().view_as(approx)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.clip is None or math.isinf(ctx.clip):
            return None, grad_out, None
        return None, grad_out * (grad_out.abs() < ctx.clip), None


def straight_through(approx: Tensor, exact: Tensor, clip: float | None = 1.0) -> Tensor:
    """Forward value ``approx``; backward passes grad_out * 1{|grad_out| < clip} to ``exact``.

    AxTrain Eq. 12 as reconstructed (the gradient goes through the approximate operator as
    if it were exact, zeroed where its magnitude is >= clip); clip None or inf: no zeroing.
    ``approx`` gets no gradient. The result is a view of ``approx`` (no copy), so autograd
    refuses in-place changes to it.
    """
    if approx.shape != exact.shape:
        raise ValueError(f"approx shape {tuple(approx.shape)} != exact shape {tuple(exact.shape)}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip={clip!r} must be > 0 (or None for no clipping)")
    return _StraightThrough.apply(approx, exact, clip)


# ----------------------------------------------------------------------------- power proxies
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
    _check_k(k)
    return min(1.0, _DRUM_A + _DRUM_B * k * k)


def sram_power(voltage_mv: float, nominal_mv: float = 1100.0) -> float:
    """SRAM power relative to the nominal supply: first-order dynamic power (V / Vnom)^2.

    E.g. 850 mV 0.597, 660 mV 0.360, 400 mV 0.132 (the paper used CACTI-P, 65 nm).
    """
    if not (voltage_mv > 0 and nominal_mv > 0):
        raise ValueError(f"voltages must be > 0 mV, got voltage_mv={voltage_mv!r}, "
                         f"nominal_mv={nominal_mv!r}")
    return (voltage_mv / nominal_mv) ** 2


def _weighted(counts: list[int], rel: float | list[float], what: str) -> float:
    rels = [float(rel)] * len(counts) if isinstance(rel, (int, float)) else list(rel)
    if len(rels) != len(counts):
        raise ValueError(f"{what}: {len(rels)} relative powers for {len(counts)} layers")
    if not counts or sum(counts) <= 0 or min(counts) < 0:
        raise ValueError(f"{what}: counts {counts!r} must be >= 0 with a positive sum")
    return sum(c * r for c, r in zip(counts, rels)) / sum(counts)


def network_power(mults_per_layer: list[int], words_per_layer: list[int],
                  mult_rel: float | list[float], sram_rel: float | list[float]) -> dict:
    """Network power relative to the exact, nominal-voltage network.

    compute = sum_l mults_l * mult_rel_l / sum_l mults_l (multipliers);
    storage = the same weighting of sram_rel by the words stored per layer (SRAM).
    mult_rel and sram_rel are one value for all layers or one per layer.
    """
    return {"compute": _weighted(mults_per_layer, mult_rel, "mult_rel"),
            "storage": _weighted(words_per_layer, sram_rel, "sram_rel")}
