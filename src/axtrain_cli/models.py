"""Table 1 networks (MLPs with ReLU hidden layers and sigmoid outputs; LeNet-5) and the one
interpreter of their ops, shared by the forward pass and the sensitivity's backward.

`Net.logits(x)` is the ordinary float network. `Net.logits(x, plan)` runs it as the
accelerator would (`HwPlan`): activations and weights in dynamic fixed point, products by
the plan's multiplier, weights and biases as read from its memory. With `plan.trials = T`
the weights carry a leading trial dimension and all T reads run in one batched pass (one
GEMM per layer, not a Python loop over trials).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_input

from . import hardware as hw
from .hardware import LayerCall


# ------------------------------------------------------------------------------------ ops
class Op:
    """One step of a network. `forward(x, trials, tape)` runs it (trials: the input carries
    the trial layout of the batched sweep) and, when `tape` is a list, appends
    (op, what backward needs); `backward(d, saved)` maps K-batched output gradients
    (K, N, ...) to input gradients."""

    layer: int | None = None  # compute-layer index (fc / conv)


@dataclass(frozen=True)
class Compute(Op):
    """A Linear ("fc") or Conv2d ("conv") layer, net.compute[layer]; run by Net.logits."""

    kind: str
    layer: int

    def backward(self, d, saved):
        module, a = saved
        if self.kind == "fc":
            return d @ module.weight
        k, n = d.shape[:2]
        flat = d.reshape(k * n, *d.shape[2:])
        return conv2d_input((k * n, *a.shape[1:]), module.weight, flat, module.stride,
                            module.padding).view(k, *a.shape)


class ReLU(Op):
    def forward(self, x, trials, tape):
        if tape is not None:
            tape.append((self, x > 0))
        return torch.relu(x)

    def backward(self, d, saved):
        return d * saved  # the mask x > 0


class MaxPool2(Op):
    """2x2 max pooling."""

    def forward(self, x, trials, tape):
        if tape is None:
            return F.max_pool2d(x, 2)
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        tape.append((self, (x.shape, idx)))
        return y

    def backward(self, d, saved):
        shape, idx = saved
        k = d.shape[0]
        flat = d.reshape(k * shape[0], *d.shape[2:])
        idx = idx.expand(k, *idx.shape).reshape(flat.shape)
        return F.max_unpool2d(flat, idx, 2, output_size=shape[-2:]).view(k, *shape)


class Flatten(Op):
    def forward(self, x, trials, tape):
        if tape is not None:
            tape.append((self, x.shape))
        if trials:  # (N, T*C, H, W) -> (T, N, C*H*W)
            return x.reshape(x.shape[0], trials, -1).transpose(0, 1)
        return x.flatten(1)

    def backward(self, d, saved):
        return d.reshape(d.shape[0], *saved)  # the input shape


OPS = {"relu": ReLU, "pool": MaxPool2, "flatten": Flatten}


def _program(ops: list[tuple]) -> list[Op]:
    return [Compute(*op) if op[0] in ("fc", "conv") else OPS[op[0]]() for op in ops]


# ------------------------------------------------------------------------------------ net
class Net(nn.Module):
    """A feed-forward network: compute layers and a list of ops over them, e.g.
    [("fc", 0), ("relu",), ("fc", 1)]; ops: fc, conv (with the layer index), relu, pool
    (2x2 max), flatten."""

    def __init__(self, compute: list[nn.Module], ops: list[tuple], output_activation: str,
                 input_shape: list[int], label: str | None = None):
        super().__init__()
        self.input_shape = list(input_shape)
        self._trace: list[dict] | None = None
        self.compute = nn.ModuleList(compute)
        self.ops = ops
        self.program = _program(ops)
        self.output_activation = output_activation
        # what results.csv calls the network: its layer widths (input, each compute
        # layer's outputs), or the builder's name
        widths = [int(torch.tensor(input_shape).prod())] + [
            m.out_features if isinstance(m, nn.Linear) else m.out_channels for m in compute]
        self.label = label or "-".join(map(str, widths))

    def outputs(self, x: torch.Tensor, plan: "HwPlan | None" = None, ste: bool = False):
        """Network outputs O after the output nonlinearity (sigmoid as in the paper)."""
        z = self.logits(x, plan, ste)
        return torch.sigmoid(z) if self.output_activation == "sigmoid" else torch.softmax(z, -1)

    forward = outputs

    def logits(self, x: torch.Tensor, plan: "HwPlan | None" = None, ste: bool = False,
               observe=None, tape: list | None = None):
        """Pre-activation outputs. `observe(i, x, z)` sees compute layer i's input x and its
        output z (before the nonlinearity), both in the autograd graph; `tape` (a list)
        receives (op, saved) for the sensitivity's backward (float network only)."""
        trials = plan.trials if plan is not None else None
        shared = True  # x has no trial dimension yet (the input is the same for all trials)
        for op in self.program:
            if op.layer is None:
                x = op.forward(x, trials if not shared else None, tape)
                continue
            module, x_in = self.compute[op.layer], x
            call = LayerCall(op.kind, module, trials, shared)
            if plan is None:
                x = call(x, module.weight, module.bias)
            else:
                x = plan.layer(op.layer, call, x)
                if ste:  # Eq. 12: gradients pass the approximate operator as if exact
                    x = hw.straight_through(x, call(x_in, module.weight, module.bias),
                                            plan.ste_clip)
                shared = shared and not trials
            if tape is not None:
                tape.append((op, (module, x_in)))
            if observe is not None:
                observe(op.layer, x_in, x)
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
                device = self.compute[0].weight.device
                self.logits(torch.zeros(1, *self.input_shape, device=device), observe=observe)
            self._trace = trace
        return self._trace

    def mult_counts(self) -> list[int]:
        """Multiplications per inference, per compute layer."""
        return [t["mults"] for t in self.trace()]

    def word_counts(self, store_biases: bool = True) -> list[int]:
        """Stored parameter words per compute layer."""
        return [m.weight.numel() + (m.bias.numel() if store_biases else 0) for m in self.compute]

    def floats_per_sample(self, trials: int) -> int:
        """The widest activation per input sample with `trials` trials (chunking the test
        set): the shared input, then every trial's activations."""
        tr = self.trace()
        if len(tr) == 1:
            return tr[0]["inputs"]
        return max(tr[0]["inputs"], trials * max(max(t["inputs"], t["outputs"])
                                                 for t in tr[1:]), trials * tr[0]["outputs"])


@dataclass
class HwPlan:
    """The network as the accelerator holds it for one knob.

    weights: per compute layer, the stored weights as `multiplier.weights` prepares them
    (fraction length weight_fl; shape (T, ...) when `trials` is set); biases: their real
    values as read; act_fl: activation fraction lengths (None: from the batch's largest
    magnitude)."""

    bits: int
    multiplier: hw.Multiplier
    weights: list[torch.Tensor]
    weight_fl: list[int]
    biases: list[torch.Tensor]
    act_fl: list[int | None]
    trials: int | None = None
    ste_clip: float | None = 1.0

    def fl(self, i: int, x: torch.Tensor) -> int:
        fl = self.act_fl[i]
        return hw.frac_length(float(x.detach().abs().max()), self.bits) if fl is None else fl

    def layer(self, i: int, call: LayerCall, x: torch.Tensor) -> torch.Tensor:
        return self.multiplier.layer(x, self.fl(i, x), self.bits, self.weights[i],
                                     self.weight_fl[i], self.biases[i], call)


def build_model(topology, input_shape: list[int], n_classes: int):
    """The Table 1 network for `topology` (MLP hidden widths, or LeNet-5), or with
    `_target_` any nn.Module class as a `graph.GraphNet` (graph.build)."""
    if (topology.get("_target_") if hasattr(topology, "get")
            else getattr(topology, "_target_", None)):
        from .graph import build

        return build(topology, input_shape, n_classes)
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
    return Net(compute, ops, topology.output_activation, input_shape,
               "LeNet-5" if topology.kind == "lenet5" else None)


@torch.no_grad()
def calibrate(net: Net, x: torch.Tensor, bits: int, batch: int = 8192) -> list[int]:
    """Activation fraction length per compute layer from the largest input magnitude seen
    on `x` (the training data), float forward."""
    maxima = [0.0] * len(net.compute)

    def observe(i, a, z):
        maxima[i] = max(maxima[i], float(a.abs().max()))

    was = net.training
    net.eval()  # the network as inference runs it (a BatchNorm's running statistics)
    batch = getattr(net, "calibration_batch", batch)  # a deep network: smaller passes
    for s in range(0, len(x), batch):
        net.logits(x[s:s + batch], observe=observe)
    net.train(was)
    return [hw.frac_length(m, bits) for m in maxima]


def weight_fl(w: torch.Tensor, bits: int, weight_format: str = "dynamic") -> int:
    """The weights' fraction length: `dynamic`, per layer from max|w| (FL = bits - 1 -
    ceil(log2 max|w|)); `fraction`, the paper's reading of section 3.2, a sign bit and
    bits - 1 fraction bits (FL = bits - 1, range [-1, 1)) in every layer."""
    if weight_format == "fraction":
        return bits - 1
    return hw.frac_length(float(w.detach().abs().max()), bits)


def layer_format(layer, weight_format: str) -> str:
    """The weight format of one layer: a layer with a folded BatchNorm (graph.Unit) stores
    the folded weights, whose range the folding sets, in the per-layer dynamic format."""
    return "dynamic" if getattr(layer, "folded", False) else weight_format


def weight_words(net: Net, bits: int, weight_format: str = "dynamic"):
    """Per layer: (weight FL, weight words, bias FL, bias words) in two's complement.
    Biases keep their own dynamic format under either weight format."""
    out = []
    for m in net.compute:
        w, b = m.weight.detach(), m.bias.detach()
        fw = weight_fl(w, bits, layer_format(m, weight_format))
        fb = hw.frac_length(float(b.abs().max()), bits)
        out.append((fw, hw.to_words(w, fw, bits), fb, hw.to_words(b, fb, bits)))
    return out


def saturated_weights(net: Net, bits: int, weight_format: str = "dynamic") -> int:
    """How many weights lie outside their format's range (and saturate when stored)."""
    n = 0
    for m in net.compute:
        w = m.weight.detach()
        q = torch.round(w * 2.0 ** weight_fl(w, bits, layer_format(m, weight_format)))
        n += int(((q > 2 ** (bits - 1) - 1) | (q < -(2 ** (bits - 1)))).sum())
    return n


def clip_to_format(net: Net, bits: int) -> int:
    """Clamp every compute layer's weights into the fraction format's range
    [-1, 1 - 2^-(bits-1)] in place; returns how many weights hit the bound."""
    hi = 1.0 - 2.0 ** -(bits - 1)
    hit = 0
    with torch.no_grad():
        for m in net.compute:
            if getattr(m, "folded", False):  # its stored weights are the folding's
                continue
            hit += int(((m.weight > hi) | (m.weight < -1.0)).sum())
            m.weight.clamp_(-1.0, hi)
    return hit
