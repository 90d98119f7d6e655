"""What of a network the accelerator holds: its units (products with a stored weight, and
the BatchNorm folded into one) and its pairs (products of two activations).

A BatchNorm that consumes only a unit's output (a Linear's or a convolution's) is folded
into it as accelerators run it, with its running statistics:
W' = W g / sqrt(var + eps) per output channel, b' = (b - mean) g / sqrt(var + eps) + beta;
W' and b' are the words the SRAM holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(eq=False)
class Unit:
    """A product with a stored weight.

    kind: fc (y = x W^T + b on the last dimension), conv (1-D or 2-D), or embedding (a
    table lookup: stored, no products). weight: the parameter; transposed: the forward
    multiplies by it as stored, x @ W with W (in, out), so the accelerator holds it as
    W^T; bias: the bias parameter the calls pass (or None); bn: the BatchNorm folded into
    it; name: where it sits in the model (module path, or the parameter's name); calls:
    how often one forward runs it (a shared layer runs more than once)."""

    name: str
    kind: str
    weight: nn.Parameter
    bias: nn.Parameter | None = None
    transposed: bool = False
    bn: nn.Module | None = None
    calls: int = 0
    conv: tuple = ()  # (stride, padding, dilation, groups) of its first call, for the record

    @property
    def folded(self) -> bool:
        return self.bn is not None

    @property
    def has_bias(self) -> bool:
        return self.bias is not None or self.folded

    @property
    def outputs(self) -> int:
        """Output units (neurons, channels, embedding columns)."""
        if self.kind == "embedding":
            return self.weight.shape[1]
        return self.weight.shape[1] if self.transposed else self.weight.shape[0]

    def scale(self, var: torch.Tensor | None = None) -> torch.Tensor:
        """g / sqrt(var + eps) per output channel (var: the running variance by default)."""
        bn = self.bn
        var = bn.running_var if var is None else var
        g = bn.weight if bn.affine else torch.ones_like(var)
        return g / torch.sqrt(var + bn.eps)

    def _per_output(self, v: torch.Tensor) -> torch.Tensor:
        return v.view(-1, *([1] * (self.weight.dim() - 1)))

    @property
    def matrix(self) -> torch.Tensor:
        """The weight as the layer multiplies by it: (out, in, ...), W^T for transposed."""
        return self.weight.T if self.transposed else self.weight

    @property
    def stored_weight(self) -> torch.Tensor:
        """What the accelerator stores: the weight as stored, folded with a BatchNorm."""
        if self.bn is None:
            return self.weight
        return self.weight * self._per_output(self.scale())

    @property
    def stored_bias(self) -> torch.Tensor:
        """The stored bias: zeros for a layer without one, folded with a BatchNorm."""
        w = self.weight
        b = self.bias if self.bias is not None else torch.zeros(
            self.outputs, device=w.device, dtype=w.dtype)
        if self.bn is None:
            return b
        bn = self.bn
        beta = bn.bias if bn.affine else torch.zeros_like(b)
        return (b - bn.running_mean) * self.scale() + beta

    def sensitivity_weight(self, z: torch.Tensor) -> torch.Tensor:
        """The weight the sensitivity weighs, as the layer multiplies by it: folded with
        the BatchNorm's statistics held constant (in training mode, the batch's own of the
        layer's output z; else the running ones)."""
        if self.bn is None:
            return self.matrix
        var = None
        if self.bn.training:  # (two passes: torch's var over these dimensions is ~10x slower)
            dims = [0, *range(2, z.dim())]
            z = z.detach()
            var = (z - z.mean(dim=dims, keepdim=True)).square_().mean(dim=dims)
        return self.weight * self._per_output(self.scale(var))


@dataclass(eq=False)
class Pair:
    """A product of two activations, the `index`-th of a forward: op (matmul, bmm,
    attention QK^T, attention AV, einsum) and where it was made."""

    index: int
    op: str
    where: str = ""


@dataclass
class Part:
    """One entry of a network's coverage: an operation, its multiply-accumulates per
    sample, and whether they run on the hardware models."""

    name: str
    op: str
    macs: float
    on_hardware: bool
    note: str = ""


@dataclass
class Coverage:
    """Per module or operation, its multiply-accumulates per sample and whether they run
    on the hardware models; `share` the part that does."""

    parts: list[Part] = field(default_factory=list)

    @property
    def macs(self) -> float:
        return sum(p.macs for p in self.parts)

    @property
    def share(self) -> float:
        total = self.macs
        return 1.0 if total == 0 else sum(p.macs for p in self.parts if p.on_hardware) / total

    def in_float(self, n: int = 3) -> list[Part]:
        """The largest parts left in float."""
        return sorted((p for p in self.parts if not p.on_hardware and p.macs),
                      key=lambda p: -p.macs)[:n]

    def describe(self) -> str:
        """One line: the share on the hardware, and what is left in float."""
        left = self.in_float()
        tail = ("; in float: " + ", ".join(f"{p.name} ({p.op}, {p.macs / self.macs:.1%})"
                                           for p in left)) if left else ""
        return (f"{self.share:.2%} of {self.macs:,.0f} multiply-accumulates per sample on "
                f"the hardware models{tail}")

    def table(self) -> list[dict]:
        return [{"name": p.name, "op": p.op, "macs": p.macs, "on_hardware": p.on_hardware,
                 "note": p.note} for p in self.parts]
