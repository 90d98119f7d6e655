"""One compute layer (Linear, Conv1d, Conv2d) as the accelerator runs it, possibly for T
weight copies at once (the NTV sweep's trials): the ordinary GEMM or convolution on float
operands, and the general path that sums an arbitrary elementwise product function over
integer words (its sums: `products`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import products as P


@dataclass(frozen=True)
class LayerCall:
    """How to run one compute layer: kind "fc" (y = x W^T + b on the last dimension of an
    input of any number of leading dimensions, tokens included) or "conv" (1-D or 2-D,
    by the weight's dimensions: any stride, padding, dilation and groups).

    conv: (stride, padding, dilation, groups) as F.conv1d/F.conv2d take them (None: those
    of `module`, an nn.Conv1d/nn.Conv2d).
    trials: weights and biases carry a leading trial dimension T (None: one copy). The
    trials are folded into the batch, (T*N, ...) in and out, so that every other operation
    of the network runs on them unchanged; trial t's rows are t*N..(t+1)*N-1.
    shared: the input has no trial dimension yet (N rows, the same for all trials).
    """

    kind: str
    module: nn.Module | None = None
    trials: int | None = None
    shared: bool = True
    conv: tuple | None = None

    @property
    def conv_args(self) -> tuple:
        if self.conv is not None:
            return self.conv
        m = self.module
        return m.stride, m.padding, m.dilation, m.groups

    def __call__(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """The ordinary layer: F.linear / F.conv (one GEMM or convolution over all trials)."""
        t = self.trials
        if self.kind == "fc":
            if not t:
                return F.linear(x, w, b)
            o, i = w.shape[1], w.shape[2]
            if self.shared:  # one GEMM against all trials' weights side by side
                y = (x @ w.reshape(t * o, i).T).view(*x.shape[:-1], t, o).movedim(-2, 0)
                return (y + b.view(t, *([1] * (x.dim() - 1)), o)).reshape(-1, *x.shape[1:-1], o)
            y = torch.baddbmm(b[:, None, :], x.reshape(t, -1, i), w.transpose(1, 2))
            return y.view(-1, *x.shape[1:-1], o)
        conv = _CONV[w.dim() - (3 if t else 2)]
        stride, padding, dilation, groups = self.conv_args
        if not t:
            return conv(x, w, b, stride, padding, dilation, groups)
        if self.shared and groups == 1:  # one input, all trials' kernels as its outputs
            return self.unfold_trials(conv(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1),
                                           stride, padding, dilation))
        x = self._trials_in_channels(x, groups)
        y = conv(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1), stride, padding, dilation,
                 groups * t)
        return self.unfold_trials(y)

    def _trials_in_channels(self, x: Tensor, groups: int) -> Tensor:
        """A conv input with the trials side by side in its channels, (N, T*C, ...): from
        (T*N, C, ...), or from a shared (N, C, ...) repeated T times."""
        t = self.trials
        if self.shared:
            return x.repeat(1, t, *([1] * (x.dim() - 2)))
        n = x.shape[0] // t
        return x.view(t, n, *x.shape[1:]).transpose(0, 1).reshape(n, -1, *x.shape[2:])

    def unfold_trials(self, y: Tensor) -> Tensor:
        """A conv output (N, T*O, ...) as (T*N, O, ...)."""
        n, t = y.shape[0], self.trials
        return y.view(n, t, -1, *y.shape[2:]).transpose(0, 1).reshape(t * n, -1, *y.shape[2:])

    def add_bias(self, y: Tensor, b: Tensor) -> Tensor:
        """y + b laid out like __call__'s output."""
        fc = self.kind == "fc"
        if self.trials:
            t = self.trials
            shape = ((t,) + (1,) * (y.dim() - 1) + (-1,) if fc
                     else (t, 1, -1) + (1,) * (y.dim() - 2))
            return (y.view(t, -1, *y.shape[1:]) + b.view(shape)).view(y.shape)
        return y + (b if fc else b.view(-1, *([1] * (y.dim() - 2))))

    def general(self, products: Callable[[Tensor, Tensor], Tensor], qx: Tensor,
                qw: Tensor, bits: int | None = None) -> Tensor:
        """sum_i products(qx_i, qw_i) per output, exact, as float64 laid out like __call__'s
        output (no bias). qx, qw hold integer words (any dtype) of `bits` bits (None:
        unknown, which rules out the lookup-rows path)."""
        if not self.trials:
            return self._single(products, qx, qw, bits)
        xs = None if self.shared else qx.view(self.trials, -1, *qx.shape[1:])
        return torch.cat([self._single(products, qx if xs is None else xs[t], qw[t], bits)
                          for t in range(self.trials)])

    def _single(self, products, qx: Tensor, qw: Tensor, bits) -> Tensor:
        if self.kind == "fc":
            y = P.dense(products, qx.reshape(-1, qx.shape[-1]), qw, bits)
            return y.view(*qx.shape[:-1], qw.shape[0])
        stride, padding, dilation, groups = self.conv_args
        if qw.dim() == 3:  # 1-D: a 2-D convolution of height 1
            as_2d = LayerCall("conv", conv=(pair(stride, 1), padding2d(padding, qw, dilation),
                                            pair(dilation, 1), groups))
            return as_2d._single(products, qx[:, :, None], qw[:, :, None], bits)[:, :, 0]
        if groups > 1:  # each group of channels its own convolution
            ci, co = qx.shape[1] // groups, qw.shape[0] // groups
            return torch.cat([self._group(products, qx[:, g * ci:(g + 1) * ci],
                                          qw[g * co:(g + 1) * co], bits)
                              for g in range(groups)], 1)
        return self._group(products, qx, qw, bits)

    def _group(self, products, qx: Tensor, qw: Tensor, bits) -> Tensor:
        stride, padding, dilation, _ = self.conv_args
        n, (o, _, kh, kw) = qx.shape[0], qw.shape
        (ph, pw), (sh, sw), (dh, dw) = (padding2d(padding, qw, dilation), pair(stride),
                                        pair(dilation))
        y = None
        if (dh, dw) == (1, 1):
            windows = (F.pad(qx, (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)
                       .permute(0, 2, 3, 1, 4, 5))  # a view (N, H', W', C, kh, kw)
            y = P.lookup(products, windows, qw.reshape(o, -1), bits)
        if y is None:
            cols = F.unfold(qx.double(), (kh, kw), dilation=(dh, dw), padding=(ph, pw),
                            stride=(sh, sw))
            y = P.dense(products, cols.transpose(1, 2).reshape(-1, cols.shape[1]),
                       qw.reshape(o, -1))
        y = y.view(n, -1, o).transpose(1, 2)
        h = (qx.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        return y.reshape(n, o, h, -1)


_CONV = {1: F.conv1d, 2: F.conv2d}


def pair(v, first=None) -> tuple[int, int]:
    """A conv argument as (height, width): an int for both, a 1-tuple for a 1-D conv's
    width (height `first`), or a pair."""
    if isinstance(v, int):
        return (v, v) if first is None else (first, v)
    v = tuple(v)
    return v if len(v) == 2 else ((first if first is not None else v[0]), v[-1])


def padding2d(padding, w: Tensor, dilation) -> tuple[int, int]:
    """A conv's padding as numbers (height, width) for its kernel w ('valid': none;
    'same': half the dilated kernel, for the odd kernels with stride 1 that torch allows
    it for); a 1-D conv's kernel has height 1 and no height padding."""
    kernel = w.shape[2:] if w.dim() == 4 else (1, *w.shape[2:])
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(pair(dilation, 1), kernel))
    return pair(padding, 0) if w.dim() == 3 else pair(padding)


def conv_padding(padding, w: Tensor, dilation) -> tuple:
    """A conv's padding as numbers, one per spatial dimension of its kernel w."""
    p = padding2d(padding, w, dilation)
    return p if w.dim() == 4 else (p[1],)
