"""Table 1 networks (MLPs with ReLU hidden layers and sigmoid outputs; LeNet-5) with a
forward pass that can run on the hardware models.

`Net.logits(x)` is the ordinary float network. `Net.logits(x, plan)` runs it as the
accelerator would: every activation operand and every weight in 16-bit dynamic fixed point,
DRUM-k products when `plan.k` is set, and weights/biases as stored in (possibly NTV-flipped)
SRAM. With `plan.trials = T` the weights carry a leading trial dimension and all T
flip draws run in one batched pass (one GEMM per layer, not a Python loop over trials).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import hardware as hw


class Net(nn.Module):
    """A feed-forward network described by a list of ops over its compute layers."""

    def __init__(self, compute: list[nn.Module], ops: list[tuple], output_activation: str,
                 input_shape: list[int]):
        super().__init__()
        self.input_shape = list(input_shape)
        self._trace: list[dict] | None = None
        self.compute = nn.ModuleList(compute)
        self.ops = ops  # ("fc"|"conv", layer index) | ("relu",) | ("pool",) | ("flatten",)
        self.output_activation = output_activation

    def outputs(self, x: torch.Tensor, plan: "HwPlan | None" = None, ste: bool = False):
        """Network outputs O after the output nonlinearity (sigmoid as in the paper)."""
        z = self.logits(x, plan, ste)
        return torch.sigmoid(z) if self.output_activation == "sigmoid" else torch.softmax(z, -1)

    forward = outputs

    def logits(self, x: torch.Tensor, plan: "HwPlan | None" = None, ste: bool = False,
               observe=None):
        """Pre-activation outputs; `observe(i, x, z)` sees compute layer i's input x and its
        output z (before the nonlinearity), both in the autograd graph."""
        trials = plan.trials if plan is not None else None
        shared = True  # x has no trial dimension yet (the input is the same for all trials)
        for op in self.ops:
            kind = op[0]
            if kind in ("fc", "conv"):
                layer = self.compute[op[1]]
                x_in = x
                if plan is None:
                    x = _layer(kind, layer, x, layer.weight, layer.bias, None, True)
                else:
                    x = plan.layer(op[1], kind, layer, x, shared)
                    if ste:  # Eq. 12: gradients pass the approximate operator as if exact
                        exact = _layer(kind, layer, x_in, layer.weight, layer.bias, trials, shared)
                        x = hw.straight_through(x, exact, plan.ste_clip)
                    shared = shared and not trials
                if observe is not None:
                    observe(op[1], x_in, x)
            elif kind == "relu":
                x = torch.relu(x)
            elif kind == "pool":
                x = F.max_pool2d(x, 2)
            elif kind == "flatten":
                if trials and not shared:  # (N, T*C, H, W) -> (T, N, C*H*W)
                    x = x.reshape(x.shape[0], trials, -1).transpose(0, 1)
                else:
                    x = x.flatten(1)
        return x

    def trace(self) -> list[dict]:
        """Per compute layer and per inference: input and output sizes, multiplications."""
        if self._trace is None:
            trace = []

            def observe(i, a, z):
                per_output = self.compute[i].weight[0].numel()  # fan-in of one output
                trace.append({"inputs": a[0].numel(), "outputs": z[0].numel(),
                              "mults": z[0].numel() * per_output})

            with torch.no_grad():
                self.logits(torch.zeros(1, *self.input_shape), observe=observe)
            self._trace = trace
        return self._trace

    def mult_counts(self) -> list[int]:
        """Multiplications per inference, per compute layer."""
        return [t["mults"] for t in self.trace()]

    def word_counts(self, store_biases: bool = True) -> list[int]:
        """Stored parameter words per compute layer."""
        return [m.weight.numel() + (m.bias.numel() if store_biases else 0) for m in self.compute]


def _layer(kind, layer, x, w, b, trials, shared):
    """One fc/conv layer; with `trials`, w and b carry a leading trial dimension."""
    if not trials:
        if kind == "fc":
            return F.linear(x, w, b)
        return F.conv2d(x, w, b, layer.stride, layer.padding)
    t = trials
    if kind == "fc":
        if shared:  # one GEMM against all trials' weights side by side
            y = x @ w.reshape(t * w.shape[1], w.shape[2]).T
            return y.view(x.shape[0], t, -1).transpose(0, 1) + b[:, None, :]
        return torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))
    weight = w.reshape(-1, *w.shape[2:])
    return F.conv2d(x, weight, b.reshape(-1), layer.stride, layer.padding,
                    groups=1 if shared else t)


@dataclass
class HwPlan:
    """The network as the accelerator holds it for one hardware knob.

    weights/biases: per compute layer, the values read from storage (float tensors holding
    fixed-point values; shape (T, ...) when `trials` is set). act_fl: per-layer activation
    fraction lengths (None entries: chosen per batch from the largest magnitude).
    """

    bits: int
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    act_fl: list[int | None]
    k: int | None = None
    trials: int | None = None
    ste_clip: float | None = 1.0

    def layer(self, i: int, kind: str, layer: nn.Module, x: torch.Tensor, shared: bool):
        fl = self.act_fl[i]
        if fl is None:
            fl = hw.frac_length(float(x.detach().abs().max()), self.bits)
        xq = hw.fake_quant(x.detach(), fl, self.bits, self.k)
        return _layer(kind, layer, xq, self.weights[i], self.biases[i], self.trials, shared)


def build_model(topology, input_shape: list[int], n_classes: int) -> Net:
    """The Table 1 network for `topology` (MLP hidden widths, or LeNet-5)."""
    if topology.kind == "mlp":
        sizes = [int(torch.tensor(input_shape).prod()), *topology.hidden, n_classes]
        compute = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        ops: list[tuple] = []
        for i in range(len(compute)):
            ops.append(("fc", i))
            if i < len(compute) - 1:
                ops.append(("relu",))
    elif topology.kind == "lenet5":
        if list(input_shape)[-2:] != [28, 28]:
            raise ValueError(f"topology lenet5 needs 1x28x28 inputs, got {list(input_shape)}")
        compute = [nn.Conv2d(input_shape[0], 6, 5, padding=2), nn.Conv2d(6, 16, 5),
                   nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, n_classes)]
        ops = [("conv", 0), ("relu",), ("pool",), ("conv", 1), ("relu",), ("pool",),
               ("flatten",), ("fc", 2), ("relu",), ("fc", 3), ("relu",), ("fc", 4)]
    else:
        raise ValueError(f"topology.kind={topology.kind!r}: allowed mlp, lenet5")
    return Net(compute, ops, topology.output_activation, input_shape)


@torch.no_grad()
def calibrate(net: Net, x: torch.Tensor, bits: int, batch: int = 8192) -> list[int]:
    """Activation fraction length per compute layer from the largest input magnitude seen
    on `x` (the training data), float forward."""
    maxima = [0.0] * len(net.compute)

    def observe(i, a, z):
        maxima[i] = max(maxima[i], float(a.abs().max()))

    for s in range(0, len(x), batch):
        net.logits(x[s:s + batch], observe=observe)
    return [hw.frac_length(m, bits) for m in maxima]


def weight_words(net: Net, bits: int):
    """Per layer: (weight FL, weight words, bias FL, bias words) in two's complement."""
    out = []
    for m in net.compute:
        w, b = m.weight.detach(), m.bias.detach()
        fw = hw.frac_length(float(w.abs().max()), bits)
        fb = hw.frac_length(float(b.abs().max()), bits)
        out.append((fw, hw.to_words(w, fw, bits), fb, hw.to_words(b, fb, bits)))
    return out
