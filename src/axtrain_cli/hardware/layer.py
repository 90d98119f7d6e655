"""One Linear/Conv2d layer as the accelerator runs it, possibly for T weight copies at once
(the NTV sweep's trials): the ordinary GEMM/conv on float operands, and the general path
that sums an arbitrary elementwise product function over integer words."""

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
_eager_products = 0
_compiled: dict = {}  # (model, function) -> compiled kernel, or False after a failure


@dataclass(frozen=True)
class LayerCall:
    """How to run compute layer `module` (kind "fc" or "conv").

    trials: weights and biases carry a leading trial dimension T (None: one copy).
    shared: the input has no trial dimension yet (the same input for all trials); after
    the first trial-dependent layer, fc inputs are (T, N, I) and conv inputs (N, T*C, H, W).
    """

    kind: str
    module: nn.Module
    trials: int | None = None
    shared: bool = True

    def __call__(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """The ordinary layer: F.linear / F.conv2d (one GEMM over all trials)."""
        t, m = self.trials, self.module
        if not t:
            if self.kind == "fc":
                return F.linear(x, w, b)
            return F.conv2d(x, w, b, m.stride, m.padding)
        if self.kind == "fc":
            if self.shared:  # one GEMM against all trials' weights side by side
                y = x @ w.reshape(t * w.shape[1], w.shape[2]).T
                return y.view(x.shape[0], t, -1).transpose(0, 1) + b[:, None, :]
            return torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))
        weight = w.reshape(-1, *w.shape[2:])
        return F.conv2d(x, weight, b.reshape(-1), m.stride, m.padding,
                        groups=1 if self.shared else t)

    def add_bias(self, y: Tensor, b: Tensor) -> Tensor:
        """y + b laid out like __call__'s output."""
        if self.trials:
            return y + (b[:, None, :] if self.kind == "fc" else b.reshape(-1)[:, None, None])
        return y + (b if self.kind == "fc" else b[:, None, None])

    def general(self, products: Callable[[Tensor, Tensor], Tensor], qx: Tensor,
                qw: Tensor) -> Tensor:
        """sum_i products(qx_i, qw_i) per output, exact in int64, as float64 laid out like
        __call__'s output (no bias). qx, qw hold integer words (any dtype)."""
        if not self.trials:
            return self._single(products, qx, qw)
        outs = []
        c = qw.shape[2] if self.kind == "conv" else None
        for t in range(self.trials):
            x = qx if self.shared else (qx[t] if c is None else qx[:, t * c:(t + 1) * c])
            outs.append(self._single(products, x, qw[t]))
        return torch.stack(outs) if self.kind == "fc" else torch.cat(outs, 1)

    def _single(self, products, qx: Tensor, qw: Tensor) -> Tensor:
        if self.kind == "fc":
            return _dense(products, qx, qw)
        m = self.module
        n, (o, _, kh, kw) = qx.shape[0], qw.shape
        cols = F.unfold(qx.double(), (kh, kw), padding=m.padding, stride=m.stride)
        rows = cols.transpose(1, 2).reshape(-1, cols.shape[1])  # (N * L, C * kh * kw)
        y = _dense(products, rows, qw.reshape(o, -1)).view(n, -1, o).transpose(1, 2)
        h = (qx.shape[2] + 2 * m.padding[0] - kh) // m.stride[0] + 1
        return y.reshape(n, o, h, -1)


def _dense(products, qx: Tensor, qw: Tensor) -> Tensor:
    """(N, I) x (O, I) -> (N, O): sums of elementwise products, in chunks of rows."""
    global _eager_products
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
    key = getattr(products, "__self__", None), getattr(products, "__func__", products)
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


def _product_sums(products, x: Tensor, w: Tensor) -> Tensor:
    """(n, I) x (O, I) -> (n, O): sum over i of products(x[:, i], w[:, i])."""
    return products(x[:, None, :], w[None]).sum(-1)
