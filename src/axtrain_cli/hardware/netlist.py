"""A synthesised multiplier's gate-level netlist (Yosys's JSON, read and checked) and what is
measured on it: gates, a static-CMOS transistor estimate (`TRANSISTORS` per gate), its
outputs for operand pairs (bit-parallel numpy, 64 pairs per machine word; `reference`,
one pair in plain integers), and its fan-out-weighted switching on a stream of pairs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SynthesisError
from .circuits import Circuit

GATE_SET = "AND,NAND,OR,NOR,XOR,XNOR,MUX"  # the gates ABC maps to (synth.SCRIPT)

# Static CMOS transistors per gate (Yosys's `stat -tech cmos` figures): the area estimate.
TRANSISTORS = {"$_NOT_": 2, "$_BUF_": 0, "$_NAND_": 4, "$_NOR_": 4, "$_AND_": 6, "$_OR_": 6,
               "$_ANDNOT_": 6, "$_ORNOT_": 6, "$_XOR_": 12, "$_XNOR_": 12, "$_MUX_": 12,
               "$_NMUX_": 10}


def where_of(circuit: Circuit) -> str:
    return f"file={circuit.file!r}" if circuit.file else f"the circuit {circuit.top}"


@dataclass
class Netlist:
    """A combinational gate-level netlist: ports as lists of net ids (LSB first; 0 and 1
    are the constants), gates in topological order as (type, input nets, output net)."""

    top: str
    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]
    gates: list[tuple[str, tuple[int, ...], int]]
    version: str = ""
    a: str = ""
    b: str = ""
    y: str = ""
    signed: bool = True
    fanout: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict, circuit: Circuit, version: str) -> "Netlist":
        where = where_of(circuit)
        module = data.get("modules", {}).get(circuit.top)
        if module is None:
            raise SynthesisError(f"{where}: no module {circuit.top!r} in the netlist")
        const = {"0": 0, "1": 1, "x": 0, "z": 0}

        def net(b) -> int:
            return const[b] if isinstance(b, str) else int(b)

        inputs, outputs = {}, {}
        for name, port in module["ports"].items():
            bits = [net(b) for b in port["bits"]]
            if port["direction"] == "input":
                inputs[name] = bits
            elif port["direction"] == "output":
                outputs[name] = bits
            else:
                raise SynthesisError(f"{where}: port {name!r} is {port['direction']}: "
                                     "allowed inputs and outputs only")
        gates = []
        for cname, cell in module.get("cells", {}).items():
            kind = cell["type"]
            if kind.startswith("$scopeinfo"):
                continue
            if kind not in TRANSISTORS:
                what = ("a flip-flop (a clock)" if "DFF" in kind or "FF" in kind else
                        "a latch" if "LATCH" in kind else "not a gate of " + GATE_SET)
                raise SynthesisError(f"{where}: module {circuit.top!r} is not combinational: "
                                     f"cell {kind} is {what}")
            conn = cell["connections"]
            ins = tuple(net(conn[p][0]) for p in ("A", "B", "S") if p in conn)
            gates.append((kind, ins, net(conn["Y"][0])))
        self = cls(circuit.top, inputs, outputs, _topological(gates, inputs, where),
                   version, signed=circuit.signed)
        self._ports(circuit, where)
        for _, ins, _ in self.gates:
            for i in ins:
                self.fanout[i] = self.fanout.get(i, 0) + 1
        for bits in self.outputs.values():
            for i in bits:
                self.fanout[i] = self.fanout.get(i, 0) + 1
        return self

    def _ports(self, circuit: Circuit, where: str) -> None:
        names = list(self.inputs)
        a, b = circuit.a or (names[0] if names else None), circuit.b or (
            names[1] if len(names) > 1 else None)
        outs = list(self.outputs)
        y = circuit.y or (outs[0] if len(outs) == 1 else None)
        for key, port, ports in (("a", a, self.inputs), ("b", b, self.inputs),
                                 ("y", y, self.outputs)):
            if port is None or port not in ports:
                allowed = ", ".join(ports) or "none"
                raise SynthesisError(f"{where}: {key}={port!r}: module {self.top!r} needs two "
                                     f"inputs and one output (its "
                                     f"{'inputs' if key != 'y' else 'outputs'}: {allowed}); "
                                     "name them with a, b and y")
        extra = sorted(set(self.inputs) - {a, b})
        if extra:
            raise SynthesisError(f"{where}: module {self.top!r} has inputs {', '.join(extra)} "
                                 "beside the operands: allowed a combinational multiplier "
                                 "with two inputs (no clock, reset or enable)")
        if len(self.inputs[a]) != len(self.inputs[b]):
            raise SynthesisError(f"{where}: inputs {a} ({len(self.inputs[a])} bits) and {b} "
                                 f"({len(self.inputs[b])} bits) differ in width")
        self.a, self.b, self.y = a, b, y

    @property
    def width(self) -> int:
        """The operands' word width."""
        return len(self.inputs[self.a])

    @property
    def transistors(self) -> int:
        return sum(TRANSISTORS[kind] for kind, _, _ in self.gates)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, _, _ in self.gates:
            out[kind.strip("$_")] = out.get(kind.strip("$_"), 0) + 1
        return out

    def reference(self, a: int, b: int) -> int:
        """The product port for operands a, b, the gates evaluated one by one in plain
        Python integers (the slow reference of `evaluate`)."""
        value = {0: 0, 1: 1}
        for port, x in ((self.a, a), (self.b, b)):
            for i, netid in enumerate(self.inputs[port]):
                value[netid] = (x >> i) & 1
        for kind, ins, out in self.gates:
            value[out] = _BIT[kind](*(value.get(i, 0) for i in ins))
        bits = self.outputs[self.y]
        result = sum(value.get(netid, 0) << i for i, netid in enumerate(bits))
        if self.signed and result >> (len(bits) - 1):
            result -= 1 << len(bits)
        return result

    def _run(self, a: np.ndarray, b: np.ndarray) -> tuple[dict[int, np.ndarray], int]:
        """Every net's values for the operand patterns a, b (int64), packed: 64 pairs per
        uint64 word, pair j at bit j % 64 of word j // 64."""
        n = len(a)
        words = -(-n // 64)
        values: dict[int, np.ndarray] = {0: np.zeros(words, np.uint64),
                                         1: np.full(words, ~np.uint64(0))}
        for port, ops in ((self.a, a), (self.b, b)):
            for i, netid in enumerate(self.inputs[port]):
                bits = ((ops >> i) & 1).astype(np.uint8)
                packed = np.packbits(bits, bitorder="little")
                packed = np.pad(packed, (0, words * 8 - len(packed)))
                values[netid] = packed.view(np.uint64)
        for kind, ins, out in self.gates:
            x = [values.get(i, values[0]) for i in ins]  # undriven: 0
            values[out] = _GATE[kind](*x)
        return values, n

    def evaluate(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The product port's value for each pair of operand patterns (int64 arrays of
        the operands' bit patterns; the result read as signed when the circuit is)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        values, n = self._run(a, b)
        out = np.zeros(n, np.int64)
        bits = self.outputs[self.y]
        for i, netid in enumerate(bits):
            v = np.unpackbits(values[netid].view(np.uint8), bitorder="little")[:n]
            out |= v.astype(np.int64) << i
        if self.signed:
            top = 1 << (len(bits) - 1)
            out = np.where(out & top, out - 2 * top, out)
        return out

    def switching(self, a: np.ndarray, b: np.ndarray) -> float:
        """Fan-out-weighted toggles per operand pair over the stream of pairs (a[j], b[j]),
        counted between consecutive pairs (zero-delay)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        values, n = self._run(a, b)
        if n < 2:
            return 0.0
        words = len(values[0])
        valid = np.full(words, ~np.uint64(0))
        if n % 64:
            valid[-1] = np.uint64((1 << (n % 64)) - 1)
        valid[0] &= ~np.uint64(1)  # pair 0 has no predecessor
        total = 0
        for netid, load in self.fanout.items():
            if netid < 2:
                continue
            v = values[netid]
            prev = (v << np.uint64(1)) | np.concatenate(([np.uint64(0)], v[:-1] >> np.uint64(63)))
            total += load * int(np.bitwise_count((v ^ prev) & valid).sum())
        return total / (n - 1)


def _not(a):
    return ~a


_GATE = {
    "$_BUF_": lambda a: a, "$_NOT_": _not,
    "$_AND_": lambda a, b: a & b, "$_NAND_": lambda a, b: ~(a & b),
    "$_OR_": lambda a, b: a | b, "$_NOR_": lambda a, b: ~(a | b),
    "$_XOR_": lambda a, b: a ^ b, "$_XNOR_": lambda a, b: ~(a ^ b),
    "$_ANDNOT_": lambda a, b: a & ~b, "$_ORNOT_": lambda a, b: a | ~b,
    "$_MUX_": lambda a, b, s: (a & ~s) | (b & s), "$_NMUX_": lambda a, b, s: ~((a & ~s) | (b & s)),
}


def _topological(gates, inputs, where) -> list:
    """The gates in an order where each comes after the gates driving its inputs (Kahn's
    algorithm); SynthesisError naming a net on a combinational loop."""
    driver = {out: i for i, (_, _, out) in enumerate(gates)}
    waiting = [sum(1 for i in ins if i in driver) for _, ins, _ in gates]
    readers: dict[int, list[int]] = {}
    for g, (_, ins, _) in enumerate(gates):
        for i in ins:
            if i in driver:
                readers.setdefault(driver[i], []).append(g)
    ready = [g for g, w in enumerate(waiting) if w == 0]
    order = []
    while ready:
        g = ready.pop()
        order.append(gates[g])
        for r in readers.get(g, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    if len(order) < len(gates):
        stuck = next(gates[g][2] for g, w in enumerate(waiting) if w > 0)
        raise SynthesisError(f"{where}: not combinational: a loop through net {stuck}")
    return order


_BIT = {  # one bit each, plain integers
    "$_BUF_": lambda a: a, "$_NOT_": lambda a: 1 - a,
    "$_AND_": lambda a, b: a & b, "$_NAND_": lambda a, b: 1 - (a & b),
    "$_OR_": lambda a, b: a | b, "$_NOR_": lambda a, b: 1 - (a | b),
    "$_XOR_": lambda a, b: a ^ b, "$_XNOR_": lambda a, b: 1 - (a ^ b),
    "$_ANDNOT_": lambda a, b: a & (1 - b), "$_ORNOT_": lambda a, b: a | (1 - b),
    "$_MUX_": lambda a, b, s: b if s else a, "$_NMUX_": lambda a, b, s: 1 - (b if s else a),
}
