"""Straight-through estimator (AxTrain Eq. 12 as reconstructed): forward uses the hardware
value, backward passes grad_out * 1{|grad_out| < clip} to the exact operand."""

from __future__ import annotations

import math

import torch
from torch import Tensor


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, approx, exact, clip):
        ctx.clip = clip
        # a new tensor, not a view of an input: the forward may change it in place (ReLU)
        return approx.detach().clone()

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.clip is None or math.isinf(ctx.clip):
            return None, grad_out, None
        return None, grad_out * (grad_out.abs() < ctx.clip), None


def straight_through(approx: Tensor, exact: Tensor, clip: float | None = 1.0) -> Tensor:
    """Forward value ``approx``; backward passes grad_out * 1{|grad_out| < clip} to ``exact``.

    AxTrain Eq. 12 as reconstructed (the gradient goes through the approximate operator as
    if it were exact, zeroed where its magnitude is >= clip); clip None or inf: no zeroing.
    ``approx`` gets no gradient. The result is a copy of ``approx``, so the forward may change
    it in place (an in-place ReLU after a layer).
    """
    if approx.shape != exact.shape:
        raise ValueError(f"approx shape {tuple(approx.shape)} != exact shape {tuple(exact.shape)}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip={clip!r} must be > 0 (or None for no clipping)")
    return _StraightThrough.apply(approx, exact, clip)
