"""Exact sums of an arbitrary elementwise product function over integer words: the
general path of a layer (LayerCall.general) and of the products of two activations
(general_matmul, einsum).

Two ways to form the sums, both exact:
- per product: `products` of every (activation, weight) pair, summed in chunks (eager, or
  one compiled loop once a process has done COMPILE_AFTER products);
- lookup rows, for words of at most LOOKUP_BITS bits: the layer's table of rows
  R[v, i, :] = products(v, w[:, i]) over the activation words v that occur, then every
  output is a sum of one row per nonzero activation (torch's embedding_bag, float32 sums
  of integers kept below 2^24, hence exact; inputs split into column groups where the
  products are large). Building R costs about V_used / 4 rows of eager products, so a call
  takes it when the batch has at least that many rows (a training batch of 64 included).
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

# elements of one chunk of elementwise products in the general path (int64: 32 MB)
GENERAL_CHUNK = 1 << 22
# The general path's compiled kernel (products and their sum fused in one loop, nothing
# of size rows x outputs x inputs in memory; about 0.5 ns per product for an 8-bit table
# on 2 cores against 10 to 20 eager) costs about 4 s to compile per multiplier and
# process. So a process compiles a multiplier's kernel only after COMPILE_AFTER products
# of eager general-path work (about 15 s of it): small runs never compile. Integer sums:
# both paths give the same results exactly.
COMPILE_AFTER = 1 << 30
COMPILED_CHUNK = 1 << 27  # products per call of the compiled kernel
LOOKUP_BITS = 8  # words this wide or narrower may take the lookup-rows path
# Building a row of the lookup costs about 2.5 ns per element on 2 cores against 10 to 20
# per eager product (0.5 compiled); the path pays from about one batch row per 4 words.
LOOKUP_ROWS_PER_WORD = 4
# Skipping zero activations saves one row fetch each but costs a nonzero() and a gather
# over the whole input: it pays for rows of 64 outputs or more (MNIST-MLP's 128, not
# LeNet-5's convolutions with 6 and 16).
SKIP_ZEROS_FROM = 64
EXACT_FLOAT32 = 1 << 24  # integers below this add exactly in float32
_tables: dict = {}  # (model, function, bits) -> its full product table, or None
_buffers: dict = {}  # device -> the lookup rows' float32 buffer (grown as needed)
_eager_products = 0
_compiled: dict = {}  # (model, function) -> compiled kernel, or False after a failure


def dense(products, qx: Tensor, qw: Tensor, bits: int | None = None) -> Tensor:
    """(N, I) x (O, I) -> (N, O): sums of elementwise products, float64: by lookup rows
    where they pay, else per product in chunks of rows."""
    global _eager_products
    y = lookup(products, qx, qw, bits)
    if y is not None:
        return y
    x, w = qx.to(torch.int64), qw.to(torch.int64)
    key, fused = _compiled_sum(products, x.shape[0] * w.numel())
    chunk = COMPILED_CHUNK if fused else GENERAL_CHUNK
    step = max(1, chunk // max(1, w.numel()))
    out = []
    for s in range(0, len(x), step):
        xs = x[s:s + step]
        if fused:
            try:
                out.append(fused(xs, w))
                continue
            except Exception as exc:  # no C++ compiler, an op inductor cannot lower, ...
                fused = _compiled[key] = False
                log.warning("torch.compile of the general layer path of %s failed (%s: %s); "
                            "eager from now on", key[0], type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "")
        out.append(product_sums(products, xs, w))
    if not fused:
        _eager_products += x.shape[0] * w.numel()
    if not out:
        return torch.zeros(0, w.shape[0], dtype=torch.float64, device=w.device)
    return torch.cat(out).to(torch.float64)


def _compiled_sum(products, work: int):
    """(key, the compiled kernel of `products` (a model's bound method)), the kernel None
    while it does not pay (see COMPILE_AFTER) or when disabled (AXTRAIN_NO_COMPILE=1),
    False after a failure."""
    key = _model_key(products)
    if os.environ.get("AXTRAIN_NO_COMPILE") == "1":
        return key, None
    try:
        fused = _compiled.get(key)
    except TypeError:  # an unhashable model: never compiled
        return key, None
    if fused is None and _eager_products + work >= COMPILE_AFTER:
        fused = _compiled[key] = torch.compile(lambda x, w: product_sums(products, x, w),
                                               dynamic=True)
    return key, fused


def _model_key(products) -> tuple:
    """(model, function) of a model's bound `products` method: the cache key of what is
    derived from it once per process (its compiled kernel, its product table)."""
    return getattr(products, "__self__", None), getattr(products, "__func__", products)


def product_sums(products, x: Tensor, w: Tensor) -> Tensor:
    """(n, I) x (O, I) -> (n, O): sum over i of products(x[:, i], w[:, i])."""
    return products(x[:, None, :], w[None]).sum(-1)


def product_table(products, bits: int) -> Tensor | None:
    """The float32 table P[a + 2^(bits-1), b + 2^(bits-1)] = products(a, b) of every pair of
    signed `bits`-bit words (computed once per model and width), or None when some product
    is 2^24 or more in magnitude (float32 sums would not be exact)."""
    key = *_model_key(products), bits
    try:
        if key in _tables:
            return _tables[key]
    except TypeError:  # an unhashable model: computed every time
        key = None
    words = torch.arange(-(1 << (bits - 1)), 1 << (bits - 1))
    table = products(words[:, None], words[None, :]).to(torch.int64)
    table = table.float() if int(table.abs().max()) < EXACT_FLOAT32 else None
    if key is not None:
        _tables[key] = table
    return table


def lookup(products, x: Tensor, w: Tensor, bits: int | None) -> Tensor | None:
    """(N, I) x (O, I) -> (N, O) float64 by lookup rows (see the module's docstring), or
    None where it does not pay (fewer rows than activation words to tabulate) or is not
    exact. x holds integer words in any dtype and layout whose row-major order is that of
    an (N, I) matrix (e.g. a view of convolution windows)."""
    i_n, o_n = w.shape[1], w.shape[0]
    n = x.numel() // i_n if i_n else 0
    if bits is None or bits > LOOKUP_BITS or n == 0 or o_n == 0:
        return None
    half, device = 1 << (bits - 1), x.device
    x = torch.empty(x.shape, dtype=torch.int32, device=device).copy_(x).view(n, i_n)  # 1 pass
    lo, hi = (int(v) for v in torch.aminmax(x))
    if n * LOOKUP_ROWS_PER_WORD < hi - lo + 1:
        return None
    w = w.to(torch.int64)
    if lo < -half or hi >= half or int(w.min()) < -half or int(w.max()) >= half:
        return None  # not `bits`-bit words
    table = product_table(products, bits)
    if table is None:
        return None
    table = table.to(device)
    rows = table[lo + half:hi + half + 1]  # the activation words that occur
    peak = int(rows.abs().max())
    group = i_n if peak == 0 else min(i_n, (EXACT_FLOAT32 - 1) // peak)  # terms per exact sum
    if group == 0:
        return None
    # R[(v - lo) * I + i, :] = products(v, w[:, i]), written into a reused buffer (a fresh
    # one of this size costs more in page faults than the gather itself)
    out = _scratch(rows.shape[0] * w.numel(), device).view(rows.shape[0], -1)
    lookup = torch.index_select(rows, 1, (w.T + half).reshape(-1), out=out).view(-1, o_n)
    groups = -(-i_n // group)  # each row's bags: its column groups
    if o_n >= SKIP_ZEROS_FROM and lo <= 0 <= hi and not bool(table[half].any()):
        # a zero word adds nothing: bags of the nonzero words only (row-major, so the bag
        # numbers row * groups + column // group come out sorted)
        r, c = (x != 0).nonzero(as_tuple=True)
        index = (x[r, c] - lo) * i_n + c
        bag = r * groups + c // group if groups > 1 else r
        offsets = torch.searchsorted(bag, torch.arange(n * groups, device=device))
    else:  # in place: (v - lo) * I + i
        index = x.sub_(lo).mul_(i_n).add_(torch.arange(i_n, dtype=torch.int32,
                                                           device=device)).view(-1)
        starts = torch.arange(0, i_n, group, dtype=torch.int32, device=device)
        offsets = (torch.arange(n, dtype=torch.int32, device=device)[:, None] * i_n
                   + starts).view(-1)
    y = F.embedding_bag(index, lookup, offsets, mode="sum")
    return y.view(n, groups, -1).double().sum(1) if groups > 1 else y.double()


def _scratch(size: int, device) -> Tensor:
    """The first `size` floats of this device's reused buffer."""
    buf = _buffers.get(device)
    if buf is None or buf.numel() < size:
        buf = _buffers[device] = torch.empty(size, dtype=torch.float32, device=device)
    return buf[:size]


def general_matmul(products, qa: Tensor, qb: Tensor, bits: int | None = None,
                   equation: str | None = None) -> Tensor:
    """torch.matmul(qa, qb) (or torch.einsum(equation, qa, qb)) of integer words with every
    product from `products`, summed exactly (float64): each matrix of the batch by the
    layers' path (`_dense`: lookup rows or per product)."""
    finish = None
    if equation is not None:
        qa, qb, finish = einsum_as_matmul(equation, qa, qb)
    a, b = (qa[None] if qa.dim() == 1 else qa), (qb[:, None] if qb.dim() == 1 else qb)
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    am = a.expand(*batch, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
    bm = b.expand(*batch, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
    y = torch.stack([dense(products, am[k], bm[k].T, bits) for k in range(len(am))])
    y = y.view(*batch, a.shape[-2], b.shape[-1])
    if qb.dim() == 1:
        y = y[..., 0]
    if qa.dim() == 1:
        y = y[..., 0, :] if qb.dim() > 1 else y[..., 0]
    return finish(y) if finish else y


def einsum_as_matmul(equation: str, a: Tensor, b: Tensor):
    """An einsum of two operands as one batched matmul: (operand a as (B, M, K), operand b
    as (B, K, N), and how to turn the (B, M, N) product into the einsum's output). Letters
    in both operands and the output are the batch, in both operands only the contraction;
    ValueError for what a matmul cannot take exactly (a letter summed within one operand,
    a repeated letter, '...')."""
    eq = equation.replace(" ", "")
    if "..." in eq or "->" not in eq:
        raise ValueError(f"einsum {equation!r}: write the output and no '...' to run it on "
                         "a multiplier that is not separable")
    ins, out = eq.split("->")
    la, lb = ins.split(",")
    if len(set(la)) < len(la) or len(set(lb)) < len(lb) or not set(out) <= set(la + lb):
        raise ValueError(f"einsum {equation!r}: repeated letters are not a matmul")
    lonely = (set(la) ^ set(lb)) - set(out)
    if lonely:
        raise ValueError(f"einsum {equation!r}: {''.join(sorted(lonely))} summed within one "
                         "operand, before its products: not exact on an approximate "
                         "multiplier")
    batch = [c for c in out if c in la and c in lb]
    fa = [c for c in out if c in la and c not in lb]
    fb = [c for c in out if c in lb and c not in la]
    k = [c for c in la if c in lb and c not in out]
    size = {**dict(zip(la, a.shape)), **dict(zip(lb, b.shape))}

    def prod(letters):
        n = 1
        for c in letters:
            n *= size[c]
        return n

    am = a.permute([la.index(c) for c in batch + fa + k]).reshape(prod(batch), prod(fa), prod(k))
    bm = b.permute([lb.index(c) for c in batch + k + fb]).reshape(prod(batch), prod(k), prod(fb))
    order = batch + fa + fb

    def finish(y):
        y = y.reshape(*(size[c] for c in order))
        return y.permute([order.index(c) for c in out])

    return am, bm, finish
