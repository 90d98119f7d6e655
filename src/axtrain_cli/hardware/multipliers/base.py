"""The multiplier interface: how an approximate Linear/Conv2d layer multiplies its
fixed-point operands, and its power; the registry of multiplier models.

A layer on the accelerator multiplies activation words (fraction length fl, chosen per
layer) by weight words (fraction length w_fl) and accumulates exactly. A model gives the
product of two signed words twice: `reference` in plain Python integers (slow, the
definition the tests hold the fast code to) and `products` on int64 tensors. The default
`layer` sums `products` over every multiplication (the general path, exact: per product
in chunks, or for words of up to 8 bits by rows of a product table, see `layer`);
`SeparableMultiplier`s (product = T(a) * T(b), e.g. DRUM) transform each operand once and
run an ordinary GEMM/conv instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..circuits import Circuit
from ..fixed_point import from_words, quantize
from ..kernels import fake_quant
from ..layer import LayerCall
from ..plugin import HardwareModel, Registry, is_number, require
from ..products import general_matmul


class Multiplier(HardwareModel):
    """A multiplier model for signed `bits`-bit words (a frozen dataclass of its parameters)."""

    exact = False  # True only for the exact multiplier

    def reference(self, a: int, b: int) -> int:
        """The approximate product of two signed words, in plain Python integers."""
        raise NotImplementedError

    def products(self, a: Tensor, b: Tensor) -> Tensor:
        """Elementwise approximate products of int64 tensors (broadcasting), int64."""
        raise NotImplementedError

    def power(self) -> float:
        """Power relative to an exact multiplier of the same width."""
        raise NotImplementedError

    def circuit(self, bits: int) -> Circuit | None:
        """The model as a combinational circuit for `bits`-bit words (Verilog, see
        `circuits`), or None where it has none (then only the proxy power applies)."""
        return None

    def power_as(self, power_model: str, bits: int, reference: Circuit | None = None) -> float:
        """Power relative to the exact multiplier of the same width: `power()` (proxy), or
        the synthesised circuit's `area` or `switching` (on uniform operands), relative to
        `reference` where given (a design of the user's; see `synth.relative_cost`)."""
        if power_model == "proxy":
            return self.power()
        circuit = self.circuit(bits)
        if circuit is None:
            raise ValueError(f"name={self.name!r} has no circuit: hardware.power_model="
                             f"{power_model} needs one (allowed proxy, or a multiplier with a "
                             "circuit: exact, drum, truncation, mitchell, verilog)")
        from .. import synth

        return synth.relative_cost(circuit, bits, reference)[power_model]

    def weights(self, words: Tensor, fl: int, bits: int) -> Tensor:
        """The stored weight words (any leading trial dims) as `layer` receives them: done once
        per evaluation, not per batch. Default: their real values words * 2^-fl."""
        return from_words(words, fl)

    def layer(self, x: Tensor, fl: int, bits: int, w: Tensor, w_fl: int, b: Tensor,
              call: LayerCall) -> Tensor:
        """The layer output for float activations x (quantised here to `bits`-bit words with
        fraction length fl), weights w from `weights` (fraction length w_fl) and biases b.
        General path: every product from `products`, summed exactly."""
        qx, qw = quantize(x.detach(), fl, bits), w * 2.0**w_fl
        y = call.general(self.products, qx, qw, bits) * 2.0 ** -(fl + w_fl)
        return call.add_bias(y.to(x.dtype), b)

    def matmul(self, a: Tensor, fl_a: int, b: Tensor, fl_b: int, bits: int,
               einsum: str | None = None, prepared: str = "") -> Tensor:
        """torch.matmul(a, b), or torch.einsum(einsum, a, b), as the accelerator forms it:
        each operand in `bits`-bit words of its fraction length, every product by this
        multiplier, the sums exact. `prepared` ("a" or "b"): that operand is a stored weight
        `weights` prepared already. General path: every product from `products`."""
        qa = a * 2.0**fl_a if prepared == "a" else quantize(a.detach(), fl_a, bits)
        qb = b * 2.0**fl_b if prepared == "b" else quantize(b.detach(), fl_b, bits)
        y = general_matmul(self.products, qa, qb, bits, einsum) * 2.0 ** -(fl_a + fl_b)
        return y.to((b if prepared == "a" else a).dtype)


class SeparableMultiplier(Multiplier):
    """A multiplier whose product is T(a) * T(b) for an operand transform T (sign kept):
    a layer transforms every operand once and runs an ordinary GEMM/conv."""

    def transform(self, q: Tensor) -> Tensor:
        """T of every element of an integer-valued tensor (int64 or float), same dtype."""
        raise NotImplementedError

    def reference_transform(self, x: int) -> int:
        """T of one signed word in plain Python integers."""
        raise NotImplementedError

    def reference(self, a: int, b: int) -> int:
        return self.reference_transform(a) * self.reference_transform(b)

    def products(self, a: Tensor, b: Tensor) -> Tensor:
        return self.transform(a) * self.transform(b)

    def operand(self, x: Tensor, fl: int, bits: int) -> Tensor:
        """T(quantize(x)) * 2^-fl: the operand as the multiplier sees it, as floats."""
        return self.transform(quantize(x.detach(), fl, bits)).mul_(2.0**-fl)

    def weights(self, words: Tensor, fl: int, bits: int) -> Tensor:
        return self.operand(from_words(words, fl), fl, bits)

    def layer(self, x, fl, bits, w, w_fl, b, call):
        return call(self.operand(x, fl, bits), w, b)

    def matmul(self, a, fl_a, b, fl_b, bits, einsum=None, prepared=""):
        ta = a if prepared == "a" else self.operand(a, fl_a, bits)
        tb = b if prepared == "b" else self.operand(b, fl_b, bits)
        return torch.einsum(einsum, ta, tb) if einsum else torch.matmul(ta, tb)


def require_power(value, default: str | None = None) -> None:
    """The `relative_power` parameter: a number in (0, 1], or null when `default` says
    what null stands for."""
    ok = (value is None and default is not None) or (is_number(value) and 0 < value <= 1)
    require("relative_power", value, ok,
            "a number in (0, 1]" + (f" or null ({default})" if default else ""))


MULTIPLIERS = Registry("multiplier", Multiplier)


@MULTIPLIERS.register
@dataclass(frozen=True)
class Exact(SeparableMultiplier):
    """The exact multiplier: fixed-point quantisation only."""

    name = "exact"
    exact = True

    def transform(self, q):
        return q

    def reference_transform(self, x):
        return x

    def power(self):
        return 1.0

    def circuit(self, bits):
        from .. import circuits

        return circuits.exact(bits)

    def operand(self, x, fl, bits):
        return fake_quant(x, fl, bits)

    def weights(self, words, fl, bits):
        return from_words(words, fl)
