"""Any multiplier given as a Verilog file (an EvoApprox design, one's own RTL): synthesised
by `synth` (Yosys + ABC), its products computed from its own gate-level netlist and its
cost from the same synthesis.

    multiplier: {name: verilog, file: mul8s_1KR6.v, signed: true}

- `file`: the Verilog; `top`: its module (default: the file's stem, as EvoApprox names
  them); `a`, `b`, `y`: its ports (default: the two inputs in declaration order and the
  one output). The inputs are the word width (`hardware.bits`), the output at most 63 bits.
- `signed: true`: the ports carry two's complement words and the product is read as
  signed; `false`: an unsigned design fed the magnitudes |a|, |b|, the product given the
  sign sign(a) XOR sign(b) (as DRUM's sign-magnitude datapath does).
- 8-bit words: the netlist is evaluated on all 65,536 operand pairs into a product table,
  and the design runs as a `table` multiplier (the separable fast path when its products
  are f(a) * f(b), lookup rows otherwise). Wider words: every product is evaluated on
  the netlist, 64 per machine word (slow: docs/hardware.md gives the rate).
- `relative_power`: the power `hardware.power_model=proxy` uses; null: the design's
  measured area (transistors relative to the exact multiplier of its width).

A row names the file and the first 12 hex digits of its SHA-256 (`label`): EvoApprox
reuses design names for different circuits across its versions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .. import circuits, synth
from ..plugin import require
from .base import MULTIPLIERS, require_power
from .table import SIZE, Table

CHUNK = 1 << 18  # operand pairs per netlist pass (every net's values held: a few MB each)


def _verilog_file(file) -> Path:
    path = Path(str(file)).expanduser()
    if not path.is_file():
        raise ValueError(f"file={file!r}: no such Verilog file: allowed the path of a .v file "
                         "with a combinational multiplier module")
    return path


@MULTIPLIERS.register
@dataclass(frozen=True)
class Verilog(Table):
    """A multiplier from its Verilog (synthesised; products from its netlist)."""

    name = "verilog"
    relative_power: float | None = None  # None: the measured area under power_model=proxy
    top: str | None = None
    a: str | None = None
    b: str | None = None
    y: str | None = None

    def load(self):
        netlist = self.netlist
        if netlist.width != 8:
            return None
        a, b = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
        # signed: entry [a & 255][b & 255], the product read as signed; unsigned: [|a|][|b|]
        values = netlist.evaluate(a.reshape(-1), b.reshape(-1))
        return torch.from_numpy(values.reshape(SIZE, SIZE))

    @cached_property
    def design(self) -> circuits.Circuit:
        path = _verilog_file(self.file)
        top = self.top or path.stem
        return circuits.Circuit(path.read_text(errors="replace"), top, self.signed,
                                self.a, self.b, self.y, file=str(self.file))

    @cached_property
    def netlist(self) -> synth.Netlist:
        netlist = synth.synthesize(self.design)
        if len(netlist.outputs[netlist.y]) > 63:
            raise ValueError(f"y={netlist.y!r} has {len(netlist.outputs[netlist.y])} bits: "
                             "allowed at most 63")
        return netlist

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.design.verilog.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{super().label[:-1]}, sha256={self.sha256[:12]})"

    def parameters(self) -> dict:
        return {**super().parameters(), "sha256": self.sha256}

    def check(self, bits):
        require("signed", self.signed, isinstance(self.signed, bool), "true or false")
        width = self.netlist.width
        require("file", self.file, width == bits,
                f"a design whose operands have hardware.bits={bits} bits (module "
                f"{self.design.top!r} takes {width}-bit operands)")
        require_power(self.relative_power, "the measured area")

    def circuit(self, bits):
        return self.design

    def power(self):
        if self.relative_power is not None:
            return float(self.relative_power)
        return synth.relative_cost(self.design, self.netlist.width)["area"]

    def reference(self, a, b):
        """The product from the netlist evaluated gate by gate in plain Python integers."""
        x, y = (a, b) if self.signed else (abs(a), abs(b))
        product = self.netlist.reference(x, y)
        return product if self.signed or (a < 0) == (b < 0) else -product

    def products(self, a, b):
        if self.table is not None:
            return super().products(a, b)
        a, b = torch.broadcast_tensors(a, b)
        xs, ys = synth.operands(a.reshape(-1).cpu().numpy(), b.reshape(-1).cpu().numpy(),
                                self.netlist.width, self.signed)
        flat = np.concatenate([self.netlist.evaluate(xs[i:i + CHUNK], ys[i:i + CHUNK])
                               for i in range(0, len(xs), CHUNK)] or [np.zeros(0, np.int64)])
        p = torch.from_numpy(flat).view(a.shape).to(a.device)
        return p if self.signed else torch.where((a < 0) != (b < 0), -p, p)
