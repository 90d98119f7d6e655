"""One Linear/Conv2d layer as the accelerator runs it, possibly for T weight copies at once
(the NTV sweep's trials): the ordinary GEMM/conv on float operands, and the general path
that sums an arbitrary elementwise product function over integer words.

The general path has two ways to form its sums, both exact:
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
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


@dataclass(frozen=True)
class LayerCall:
    """How to run compute layer `module` (kind "fc" or "conv": any stride, padding,
    dilation and groups).

    trials: weights and biases carry a leading trial dimension T (None: one copy).
    shared: the input has no trial dimension yet (the same input for all trials).
    The trial layout of inputs and outputs: with `folded` (general networks) the trials
    are folded into the batch, (T*N, ...) in and out (so every other operation of the
    network runs on them unchanged); else (the paper's networks) fc inputs are (T, N, I)
    and conv inputs (N, T*C, H, W) after the first trial-dependent layer.
    """

    kind: str
    module: nn.Module
    trials: int | None = None
    shared: bool = True
    folded: bool = False

    @property
    def conv_args(self) -> tuple:
        m = self.module
        return m.stride, m.padding, m.dilation, m.groups

    def __call__(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """The ordinary layer: F.linear / F.conv2d (one GEMM over all trials)."""
        t = self.trials
        if not t:
            return F.linear(x, w, b) if self.kind == "fc" else F.conv2d(x, w, b,
                                                                         *self.conv_args)
        if self.folded:
            return self._folded(x, w, b)
        m = self.module
        if self.kind == "fc":
            if self.shared:  # one GEMM against all trials' weights side by side
                y = x @ w.reshape(t * w.shape[1], w.shape[2]).T
                return y.view(x.shape[0], t, -1).transpose(0, 1) + b[:, None, :]
            return torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))
        weight = w.reshape(-1, *w.shape[2:])
        return F.conv2d(x, weight, b.reshape(-1), m.stride, m.padding, m.dilation,
                        m.groups * (1 if self.shared else t))

    def _folded(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """Trials folded into the batch: x (N, ...) shared or (T*N, ...); out (T*N, ...)."""
        t = self.trials
        if self.kind == "fc":
            if self.shared:
                y = (x @ w.reshape(t * w.shape[1], w.shape[2]).T).view(x.shape[0], t, -1)
                return (y.transpose(0, 1) + b[:, None, :]).reshape(-1, w.shape[1])
            y = torch.baddbmm(b[:, None, :], x.view(t, -1, x.shape[-1]), w.transpose(1, 2))
            return y.view(-1, w.shape[1])
        stride, padding, dilation, groups = self.conv_args
        if not self.shared:  # (T*N, C, H, W) -> (N, T*C, H, W): one grouped conv
            n = x.shape[0] // t
            x = x.view(t, n, *x.shape[1:]).transpose(0, 1).reshape(n, -1, *x.shape[2:])
        y = F.conv2d(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1), stride, padding, dilation,
                     groups * (1 if self.shared else t))
        return self.unfold_trials(y)

    def unfold_trials(self, y: Tensor) -> Tensor:
        """A conv output (N, T*O, H, W) as (T*N, O, H, W)."""
        n, t = y.shape[0], self.trials
        return y.view(n, t, -1, *y.shape[2:]).transpose(0, 1).reshape(t * n, -1, *y.shape[2:])

    def add_bias(self, y: Tensor, b: Tensor) -> Tensor:
        """y + b laid out like __call__'s output."""
        if self.trials and self.folded:
            shape = (self.trials, -1, b.shape[-1]) + (1,) * (y.dim() - 2)
            return (y.view(self.trials, -1, *y.shape[1:]) + b.view(shape)).view(y.shape)
        if self.trials:
            return y + (b[:, None, :] if self.kind == "fc" else b.reshape(-1)[:, None, None])
        return y + (b if self.kind == "fc" else b[:, None, None])

    def general(self, products: Callable[[Tensor, Tensor], Tensor], qx: Tensor,
                qw: Tensor, bits: int | None = None) -> Tensor:
        """sum_i products(qx_i, qw_i) per output, exact, as float64 laid out like __call__'s
        output (no bias). qx, qw hold integer words (any dtype) of `bits` bits (None:
        unknown, which rules out the lookup-rows path)."""
        if not self.trials:
            return self._single(products, qx, qw, bits)
        outs = []
        if self.folded:
            xs = None if self.shared else qx.view(self.trials, -1, *qx.shape[1:])
            for t in range(self.trials):
                outs.append(self._single(products, qx if xs is None else xs[t], qw[t], bits))
            return torch.cat(outs)
        c = qw.shape[2] * self.module.groups if self.kind == "conv" else None
        for t in range(self.trials):
            x = qx if self.shared else (qx[t] if c is None else qx[:, t * c:(t + 1) * c])
            outs.append(self._single(products, x, qw[t], bits))
        return torch.stack(outs) if self.kind == "fc" else torch.cat(outs, 1)

    def _single(self, products, qx: Tensor, qw: Tensor, bits) -> Tensor:
        if self.kind == "fc":
            return _dense(products, qx, qw, bits)
        m = self.module
        if m.groups > 1:  # each group of channels its own convolution
            ci, co = qx.shape[1] // m.groups, qw.shape[0] // m.groups
            return torch.cat([self._group(products, qx[:, g * ci:(g + 1) * ci],
                                          qw[g * co:(g + 1) * co], bits)
                              for g in range(m.groups)], 1)
        return self._group(products, qx, qw, bits)

    def _group(self, products, qx: Tensor, qw: Tensor, bits) -> Tensor:
        m = self.module
        n, (o, _, kh, kw) = qx.shape[0], qw.shape
        (ph, pw), (sh, sw), (dh, dw) = _padding(m, qw.shape[2:]), m.stride, m.dilation
        y = None
        if (dh, dw) == (1, 1):
            windows = (F.pad(qx, (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)
                       .permute(0, 2, 3, 1, 4, 5))  # a view (N, H', W', C, kh, kw)
            y = _lookup(products, windows, qw.reshape(o, -1), bits)
        if y is None:
            cols = F.unfold(qx.double(), (kh, kw), dilation=(dh, dw), padding=(ph, pw),
                            stride=(sh, sw))
            y = _dense(products, cols.transpose(1, 2).reshape(-1, cols.shape[1]),
                       qw.reshape(o, -1))
        y = y.view(n, -1, o).transpose(1, 2)
        h = (qx.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        return y.reshape(n, o, h, -1)


def _padding(m, kernel) -> tuple[int, int]:
    """A conv's padding as numbers ('valid': none; 'same': half the dilated kernel, for the
    odd kernels with stride 1 that torch allows it for)."""
    if m.padding == "valid":
        return 0, 0
    if m.padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(m.dilation, kernel))
    return tuple(m.padding)


def _dense(products, qx: Tensor, qw: Tensor, bits: int | None = None) -> Tensor:
    """(N, I) x (O, I) -> (N, O): sums of elementwise products, float64: by lookup rows
    where they pay, else per product in chunks of rows."""
    global _eager_products
    y = _lookup(products, qx, qw, bits)
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
        out.append(_product_sums(products, xs, w))
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
        fused = _compiled[key] = torch.compile(lambda x, w: _product_sums(products, x, w),
                                               dynamic=True)
    return key, fused


def _model_key(products) -> tuple:
    """(model, function) of a model's bound `products` method: the cache key of what is
    derived from it once per process (its compiled kernel, its product table)."""
    return getattr(products, "__self__", None), getattr(products, "__func__", products)


def _product_sums(products, x: Tensor, w: Tensor) -> Tensor:
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


def _lookup(products, x: Tensor, w: Tensor, bits: int | None) -> Tensor | None:
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
