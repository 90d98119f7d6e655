"""What a float forward records for the sensitivity S(w) (evaluation.sensitivity): a chain
network's ops with what their explicit K-batched backward needs, or per unit its input,
output and effective weight (the autograd strategy)."""

from __future__ import annotations

import torch.nn.functional as F
from torch.nn.grad import conv2d_input

from ..hardware.layer import conv_padding


class Compute:
    """A chain's Linear ("fc") or Conv2d ("conv") unit; saved: (its _Layer, its input)."""

    def __init__(self, kind: str, layer: int):
        self.kind, self.layer = kind, layer

    def backward(self, d, saved):
        layer, a = saved
        if self.kind == "fc":
            return d @ layer.weight
        k, n = d.shape[:2]
        flat = d.reshape(k * n, *d.shape[2:])
        stride, padding, dilation, groups = _conv(layer)
        return conv2d_input((k * n, *a.shape[1:]), layer.weight, flat, stride, padding,
                            dilation, groups).view(k, *a.shape)


class ReLU:
    layer = None

    def backward(self, d, saved):
        return d * saved  # the mask x > 0


class MaxPool2:
    """2x2 max pooling."""

    layer = None

    def backward(self, d, saved):
        shape, idx = saved
        k = d.shape[0]
        flat = d.reshape(k * shape[0], *d.shape[2:])
        idx = idx.expand(k, *idx.shape).reshape(flat.shape)
        return F.max_unpool2d(flat, idx, 2, output_size=shape[-2:]).view(k, *shape)


class Flatten:
    layer = None

    def backward(self, d, saved):
        return d.reshape(d.shape[0], *saved)  # the input shape


class Tape:
    """What a float forward of `net` records for S (runtime.Run calls it): a chain's ops
    with their explicit backward's needs (`ops`), or per unit (i, input a, output y,
    effective weight) (`units`)."""

    def __init__(self, net):
        self.chain = net.chain
        self.ops: list[tuple] = []
        self.units: list[tuple] = []

    def unit(self, i, a, y, unit, z=None):
        """Unit i read a and gave y (z: before its folded BatchNorm); returns the tensor the
        forward goes on with (a copy for the autograd strategy: the tape keeps y as it was,
        whatever in-place operations do to the forward's)."""
        if unit.kind == "einsum":
            return y
        if self.chain:
            self.ops.append((Compute(unit.kind, i), (_Layer(unit, unit.weight, i), a)))
            return y
        self.units.append((i, a, y, unit.sensitivity_weight(y if z is None else z)))
        return y.clone()

    def relu(self, func, args, kwargs):
        self.ops.append((ReLU(), args[0] > 0))
        return func(*args, **kwargs)

    def max_pool(self, func, args, kwargs):
        x = args[0]
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        self.ops.append((MaxPool2(), (x.shape, idx)))
        return y

    def flatten(self, func, args, kwargs):
        self.ops.append((Flatten(), args[0].shape))
        return func(*args, **kwargs)


def _forward(model, x, forward):
    """(logits, tape) of the float forward on x, or `forward` if the caller has it."""
    if forward is not None:
        return forward
    tape = Tape(model)
    return model.logits(x, tape=tape), tape


class _Layer:
    """What the weight-gradient helpers read of a unit: the weight as the layer multiplies
    by it (effective: folded with a BatchNorm), its kind and convolution geometry."""

    def __init__(self, unit, weight, index: int = -1):
        self.weight, self.kind, self.conv, self.index = weight, unit.kind, unit.conv, index


def _conv(layer) -> tuple:
    """stride, padding (numbers), dilation, groups of a conv unit."""
    stride, padding, dilation, groups = layer.conv
    return stride, conv_padding(padding, layer.weight, dilation), dilation, groups
