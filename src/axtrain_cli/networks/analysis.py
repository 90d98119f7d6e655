"""What a network is, learnt from one forward of it (in evaluation mode, on a sample of its
input) through `runtime.Run` with a `Recorder`: its units (in the order it first runs
them) and pairs, the BatchNorms to fold, its coverage (every product's multiply-
accumulates and whether it runs on the hardware), the sizes its products see, whether its
first unit alone reads the input (then a memory's trials start at that unit), and whether
it is a chain of layers the sensitivity's explicit backward knows (`program`). Nothing of
this runs the model: its own forward does, every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from . import ops
from .units import Coverage, Pair, Part, Unit

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class Analysis:
    units: list[Unit] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    trace: list[dict] = field(default_factory=list)  # per unit, per sample
    shared_first: bool = False
    program: list[tuple] | None = None  # a chain's ops, ("fc", i), ("relu",), ...
    widest: int = 0  # the widest tensor per sample after the first unit
    ops: str = ""  # the functions the forward ran, for the architecture hash


def _tensors(obj, out: list) -> list:
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _tensors(v, out)
    return out


def _name(func) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or str(func)


class Recorder:
    """The analysis pass (see the module docstring); `run` calls it for every function."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor):
        self.model, self.inputs, self.batch = model, inputs, len(inputs)
        self.names = {id(p): n for n, p in model.named_parameters()}
        self.bn_of = {id(m.running_mean): m for m in model.modules()
                      if isinstance(m, BATCHNORMS) and m.running_mean is not None}
        self.calls: list[dict] = []  # per function call: func, the calls whose output it reads
        self.made: dict[int, tuple] = {}  # id(tensor) -> (call, tensor)
        self.reads_input: list[int] = []
        self.out = Analysis()
        self.stack: list[int] = []
        self.first_unit_call: int | None = None

    # ----------------------------------------------------------------- every function
    def call(self, run, func, args, kwargs):
        n = len(self.calls)
        record = {"func": func, "reads": [], "units": [], "args": args, "kwargs": kwargs}
        for t in _tensors((args, kwargs), []):
            if t is self.inputs:
                self.reads_input.append(n)
            made = self.made.get(id(t))
            if made is not None and made[1] is t:
                record["reads"].append(made[0])
        self.calls.append(record)
        self.stack.append(n)
        try:
            out = run.dispatch(func, args, kwargs)
        finally:
            self.stack.pop()
        results = _tensors(out, [])
        record["tensor"] = bool(results)
        record["shape"] = tuple(results[0].shape) if results else ()
        for t in results:
            self.made[id(t)] = (n, t)
            if self.first_unit_call is not None and t.dim() and len(t) == self.batch:
                self.out.widest = max(self.out.widest, t[0].numel())
        self.out.ops += f"{_name(func)};"
        return out

    # ------------------------------------------------------------------------ products
    def new_unit(self, run, param) -> int:
        name = self.names.get(id(param), "")
        unit = Unit(name.removesuffix(".weight") or name, "fc", param)
        run.net.units.append(unit)
        run.index[id(param)] = len(run.net.units) - 1
        self.out.trace.append({"inputs": 0, "outputs": 0, "mults": 0})
        return len(run.net.units) - 1

    def unit_called(self, run, i, x, z, kind, conv, transposed, bias, einsum) -> None:
        u, call = run.net.units[i], self.stack[-1]
        u.kind, u.transposed, u.calls = kind, transposed, u.calls + 1
        if bias is not None and isinstance(bias, nn.Parameter):
            u.bias = bias
        if conv is not None and not u.conv:
            u.conv = conv
        self.calls[call]["units"].append(i)
        if self.first_unit_call is None:
            self.first_unit_call = call
        if kind == "embedding":
            macs = 0
        elif kind == "conv":
            macs = ops.conv_macs(z.shape, u.weight.shape)
        elif kind == "einsum":
            macs = ops.einsum_macs(einsum[0], *((u.weight.shape, x.shape) if einsum[1]
                                                else (x.shape, u.weight.shape)))
        else:
            macs = math.prod(z.shape) * x.shape[-1]
        t = self.out.trace[i]
        t["inputs"] = max(t["inputs"], x[0].numel() if x.dim() else 1)
        t["outputs"] = max(t["outputs"], z[0].numel())
        t["mults"] += macs // self.batch
        self.made[id(z)] = (call, z)
        self.calls[call].setdefault("made", []).append((i, z))
        op = {"fc": "linear", "conv": f"conv{u.weight.dim() - 2}d"}.get(kind, kind)
        self.out.coverage.parts.append(Part(u.name, op, macs / self.batch, kind != "embedding",
                                            "stored table, no products" if kind ==
                                            "embedding" else ""))

    def pair_called(self, run, j, op, a, b, einsum) -> None:
        macs = (ops.einsum_macs(einsum, a.shape, b.shape) if einsum
                else ops.matmul_macs(a.shape, b.shape))
        where = _name(self.calls[self.stack[-1]]["func"]) if self.stack else ""
        self.out.pairs.append(Pair(j, op, where))
        self.out.coverage.parts.append(Part(f"{where} #{j}", op, macs / self.batch, True,
                                            "two activations"))

    def float_call(self, run, func, args, kwargs, name: str):
        """A product run in float (hardware.unsupported=float): its multiply-accumulates
        counted by torch's flop counter."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            out = func(*args, **kwargs)
        macs = ops.rnn_macs(func, args)  # (torch's counter does not count recurrent layers)
        macs = counter.get_total_flops() / 2 if macs is None else macs
        self.out.coverage.parts.append(Part(name, name, macs / self.batch, False,
                                            "run in float"))
        return out

    # ---------------------------------------------------------------------- the result
    def finish(self, units: list[Unit]) -> Analysis:
        a = self.out
        self._fold(units)
        first = self.first_unit_call
        a.shared_first = first is not None and self.reads_input == [first] and len(
            self.calls[first]["units"]) == 1 and units[self.calls[first]["units"][0]].kind \
            != "embedding"
        a.program = self._chain(units)
        a.units = units
        return a

    def _fold(self, units) -> None:
        """A BatchNorm whose input is a unit's output that nothing else reads (its shape
        aside: BatchNorm checks the dimensions of its input)."""
        readers: dict[int, list[int]] = {}
        for n, c in enumerate(self.calls):
            for r in c["reads"]:
                if c["tensor"]:
                    readers.setdefault(r, []).append(n)
        for n, c in enumerate(self.calls):
            for i, z in c.get("made", []):
                u = units[i]
                users = [r for r in readers.get(n, []) if any(
                    t is z for t in _tensors((self.calls[r]["args"], self.calls[r]["kwargs"]),
                                             []))]
                if (u.calls != 1 or u.kind not in ("fc", "conv") or u.transposed
                        or len(users) != 1 or self.calls[users[0]]["func"] not in ops.BATCHNORM):
                    continue
                bn_call = self.calls[users[0]]
                args = bn_call["args"]
                mean = args[1] if len(args) > 1 else bn_call["kwargs"].get("running_mean")
                bn = self.bn_of.get(id(mean))
                if bn is not None and (args[0] if args else bn_call["kwargs"]["input"]) is z:
                    u.bn = bn

    def _chain(self, units) -> list[tuple] | None:
        """The chain's program, or None: every function that makes a tensor reads only the
        one before it (the first, the input), and is a Linear or Conv2d unit without a
        folded BatchNorm, a ReLU, a 2x2 max pooling or a flatten."""
        made = [(n, c) for n, c in enumerate(self.calls) if c["tensor"]]
        program, before = [], None
        for n, c in made:
            reads = set(c["reads"])
            if (before is None and self.reads_input != [n]) or \
                    (before is not None and (reads != {before} or n in self.reads_input)):
                return None
            op = self._chain_op(c, units)
            if op is None:
                return None
            program.append(op)
            before = n
        return program or None

    @staticmethod
    def _chain_op(c, units) -> tuple | None:
        func, args, kwargs = c["func"], c["args"], c["kwargs"]
        if c["units"]:
            i = c["units"][0]
            u = units[i]
            if len(c["units"]) > 1 or u.folded or u.transposed or u.kind not in ("fc", "conv") \
                    or (u.kind == "conv" and u.weight.dim() != 4) or func not in (
                        ops.LINEAR | set(ops.CONV)):
                return None
            return (u.kind, i)
        if func in ops.RELU:
            return ("relu",)
        if func in ops.MAXPOOL:
            given = dict(zip(("input", "kernel_size", "stride", "padding", "dilation",
                              "ceil_mode", "return_indices"), args), **kwargs)
            plain = (given.get("kernel_size") in (2, (2, 2)) and given.get("stride") in
                     (None, 2, (2, 2), ()) and given.get("padding", 0) in (0, (0, 0))
                     and given.get("dilation", 1) in (1, (1, 1))
                     and not given.get("ceil_mode") and not given.get("return_indices"))
            return ("pool",) if plain else None
        if func in ops.FLATTEN and len(c["shape"]) == 2:  # (N, features), as flatten(1)
            return ("flatten",)
        return None
