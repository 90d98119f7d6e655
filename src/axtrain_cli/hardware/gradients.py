"""Training gradients through an approximate multiplier (`method.gradient`).

The forward pass of a layer on the hardware runs the multiplier; the backward pass needs
the derivatives of its product P(a, b) with respect to the activation word a and the
weight word b. Three estimators:

    ste         the exact product's, dP/da = b and dP/db = a (the straight-through
                estimator: the layer's float product differentiated)
    difference  smoothed central differences of the multiplier's products along each
                operand: a moving average of half-width h (symmetric, narrower near the
                ends of the word range so that a straight line stays straight), then
                (S[v+1] - S[v-1]) / 2; at the two ends of the range the mean slope
                (S[last] - S[first]) / (N - 1)
    slope       per value of the other operand, the least-squares slope of the products
                along this one: dP/da (a, b) = s_a(b), dP/db (a, b) = s_b(a)

h is `window` in units of 1/256 of the word range (one word at 8 bits, 256 at 16).

Where the products come from: a separable multiplier (P = T(a) T(b): DRUM, truncation,
the exact one) at any width gives T over every word (the difference of P along a is then
T'(a) T(b), T' the smoothed difference of T); any other multiplier at 8 bits or fewer gives
its table of products of every pair of words. Wider words of a non-separable multiplier
have neither (`rule` raises ValueError: only the STE applies).

Every rule is a short sum of rank-one terms, dP/da = sum_r U_r(a) V_r(b) and dP/db =
sum_r Q_r(b) P_r(a), so the backward pass stays the layer's own product (a GEMM or a
convolution) once per term: `surrogate` builds a product whose gradient is the rule's.
A non-separable table's `difference` keeps the leading terms of its derivative tables'
SVD (the fewest with a relative residual of at most 1 %, at most MAX_RANK; `Rule.note`
states the residual).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .fixed_point import quantize

GRADIENTS = ("ste", "difference", "slope")
MAX_RANK = 16
RESIDUAL = 0.01


@dataclass(frozen=True)
class Term:
    """One rank-one term: d(product)/d(operand) += gate(operand word) * value(other word).
    gate None: 1 everywhere. Both are tables over the 2^bits words, lowest word first."""

    gate: Tensor | None
    value: Tensor


@dataclass(frozen=True)
class Rule:
    name: str
    bits: int
    da: tuple[Term, ...]  # dP/da: gate over a, value over b
    db: tuple[Term, ...]  # dP/db: gate over b, value over a
    note: str = ""


def smooth_difference(p: Tensor, half: int, dim: int = 0) -> Tensor:
    """The smoothed central difference of `p` (float64) along `dim` (module docstring)."""
    p = p.movedim(dim, 0).double()
    n = p.shape[0]
    v = torch.arange(n)
    h = torch.clamp(torch.minimum(v, n - 1 - v), max=half)
    c = torch.cat([torch.zeros_like(p[:1]), p.cumsum(0)])
    s = (c[v + h + 1] - c[v - h]) / (2 * h + 1).view(-1, *([1] * (p.dim() - 1)))
    d = torch.empty_like(s)
    d[1:-1] = (s[2:] - s[:-2]) / 2
    d[0] = d[-1] = (s[-1] - s[0]) / (n - 1)
    return d.movedim(0, dim)


def ls_slope(p: Tensor, dim: int = 0) -> Tensor:
    """The least-squares slope of `p` against the word values along `dim` (float64)."""
    p = p.movedim(dim, 0).double()
    a = torch.arange(p.shape[0], dtype=torch.float64)
    a = (a - a.mean()).view(-1, *([1] * (p.dim() - 1)))
    return ((a * (p - p.mean(0))).sum(0) / (a * a).sum())


def rule(multiplier, name: str, bits: int, window: int = 4) -> Rule | None:
    """The estimator `name` for `multiplier` on `bits`-bit words (None: the STE)."""
    if name not in GRADIENTS:
        raise ValueError(f"method.gradient={name!r} is unknown: allowed {', '.join(GRADIENTS)}")
    if name == "ste" or multiplier.exact:
        return None
    half = window << max(0, bits - 8)
    if not (1 <= window and 2 * half + 1 <= 1 << bits):
        top = ((1 << min(bits, 8)) - 1) // 2
        raise ValueError(f"method.gradient_window={window} is out of range: allowed 1..{top} "
                         f"(a moving average no wider than the {1 << bits} words)")
    words = torch.arange(-(1 << (bits - 1)), 1 << (bits - 1))
    if hasattr(multiplier, "transform") and getattr(multiplier, "separable", True):  # T(a) T(b)
        t = multiplier.transform(words.double())
        d = smooth_difference(t, half) if name == "difference" else \
            ls_slope(t).expand_as(t)
        da = (Term(d.float(), t.float()),)
        return Rule(name, bits, da, da, f"{name} of the operand transform")
    if bits > 8:
        raise ValueError(f"method.gradient={name!r} cannot run on {multiplier.label} at "
                         f"{bits}-bit words (neither an operand transform nor a product table "
                         "of 8-bit words): allowed ste, or hardware=fixed8")
    table = multiplier.products(words[:, None], words[None, :]).double()  # P[a, b]
    if name == "slope":
        return Rule(name, bits, (Term(None, ls_slope(table, 0).float()),),
                    (Term(None, ls_slope(table, 1).float()),), "least-squares slopes")
    da, ra = _terms(smooth_difference(table, half, 0))  # D_a[a, b]
    db, rb = _terms(smooth_difference(table, half, 1).T)  # D_b[b, a]
    return Rule(name, bits, da, db, f"the difference tables' SVD, rank {len(da)} and "
                f"{len(db)} (relative residuals {ra:.2%} and {rb:.2%})")


@functools.lru_cache(maxsize=32)
def gradient_rule(multiplier, name: str, bits: int, window: int = 4) -> Rule | None:
    """`rule`, computed once per multiplier, estimator, width and window."""
    return rule(multiplier, name, bits, window)


def _terms(d: Tensor) -> tuple[tuple[Term, ...], float]:
    """d[gate word, value word] as its fewest leading SVD terms within RESIDUAL."""
    u, s, vh = torch.linalg.svd(d)
    total = float((s * s).sum()) or 1.0
    left = total - (s * s).cumsum(0)
    rank = 1
    while rank < min(MAX_RANK, len(s)) and float(left[rank - 1]) > RESIDUAL**2 * total:
        rank += 1
    terms = tuple(Term((u[:, r] * s[r]).float(), vh[r].float()) for r in range(rank))
    return terms, (max(float(left[rank - 1]), 0.0) / total) ** 0.5


class _Operand(torch.autograd.Function):
    """Forward: `value`; backward: the gradient times `gate` (elementwise; None: 1), to x."""

    @staticmethod
    def forward(ctx, x, value, gate):
        ctx.save_for_backward(gate)
        ctx.plain = gate is None
        return value

    @staticmethod
    def backward(ctx, g):
        return (g if ctx.plain else g * ctx.saved_tensors[0]), None, None


Product = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


def surrogate(r: Rule, x: Tensor, w: Tensor, bias: Tensor | None, fl: int, w_fl: int,
              product: Product) -> Tensor:
    """A tensor shaped like product(x, w, bias) whose gradient with respect to x, w and
    bias is the rule's: `product(x_, w_, b_)` is the layer's own float product on other
    operands, once per pair of terms (the r-th terms of dP/da and dP/db together: x_
    carries dP/db's value of a and passes the gradient times dP/da's gate of a, w_ the
    other way round), so a rule of one term each costs the STE's products. Its value is
    not the layer's (only its gradient is used)."""
    half = 1 << (r.bits - 1)
    ix = quantize(x.detach(), fl, r.bits).long() + half
    iw = quantize(w.detach(), w_fl, r.bits).long() + half

    def table(term, part: str, i: Tensor, like: Tensor, scale: float = 1.0):
        """term's `part` over the words i (no term: zeros; a gate of None: None, i.e. 1)."""
        if term is None:
            return torch.zeros_like(like.detach())
        t = getattr(term, part)
        return None if t is None else (t.to(like.device)[i] * scale).to(like.dtype)

    out, b = None, bias
    for k in range(max(len(r.da), len(r.db))):
        ta = r.da[k] if k < len(r.da) else None  # dP/da's term: gate over a, value over b
        tb = r.db[k] if k < len(r.db) else None  # dP/db's term: gate over b, value over a
        gx = _Operand.apply(x, table(tb, "value", ix, x, 2.0**-fl), table(ta, "gate", ix, x))
        gw = _Operand.apply(w, table(ta, "value", iw, w, 2.0**-w_fl), table(tb, "gate", iw, w))
        y = product(gx, gw, b)
        out, b = (y if out is None else out + y), (None if bias is None else bias.detach())
    return out
