"""The model's own forward with its products on the hardware models.

`Run` is a torch function mode (torch.overrides.TorchFunctionMode) entered around one
call of the user's model: the model runs as written (its control flow, keyword arguments,
train/eval mode, in-place operations), and every product it makes comes here (`ops`):
a unit's (a stored weight) runs as the accelerator runs it, with the plan's weights read
from its memory and its multiplier, a BatchNorm that consumes only its output folded into
it; a pair's (two activations) quantises both operands and uses the multiplier; every
other function runs as it is. Without a plan the products run in float, and the run only
observes (calibration), records a tape (the sensitivity) or discovers the network
(`analysis`). A product axtrain does not model (ops.UNSUPPORTED) is refused by name, or,
with `unsupported="float"`, run in float and counted so in the coverage.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from .. import hardware as hw
from ..errors import NetworkError
from ..hardware.layer import LayerCall
from . import ops


class Run(TorchFunctionMode):
    """One call of the model (see the module docstring). net: the Network; plan: the
    hardware (None: float); ste: gradients through the straight-through estimator;
    observe(i, a, y): unit i's input and output; observe_pair(j, a, b): pair j's operands;
    tape: records for the sensitivity (`Tape`); trials: the plan's weight copies, folded
    into the batch; inputs: the model's input (a first unit that takes it takes it shared
    by all trials); recorder: the analysis pass (`analysis.Recorder`)."""

    def __init__(self, net, plan=None, ste=False, observe=None, observe_pair=None, tape=None,
                 trials=None, inputs=None, recorder=None, unsupported="refuse"):
        super().__init__()
        self.net, self.plan, self.ste, self.tape = net, plan, ste, tape
        self.observe, self.observe_pair = observe, observe_pair
        self.trials, self.inputs, self.rec = trials, inputs, recorder
        self.unsupported = unsupported
        self.index = {id(u.weight): i for i, u in enumerate(net.units)}
        self.views: dict[int, tuple] = {}  # id(a transposed view of a parameter) -> (it, param)
        self.pending: dict[int, tuple] = {}  # id(unit output) -> what its BatchNorm needs
        self.pairs = 0
        self.handlers = CHAIN if tape is not None and tape.chain else HANDLERS

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.rec is not None:
            return self.rec.call(self, func, args, kwargs)
        return self.dispatch(func, args, kwargs)

    def dispatch(self, func, args, kwargs):
        handler = self.handlers.get(func)
        if handler is None:
            return func(*args, **kwargs)
        return handler(self, func, args, kwargs)

    # --------------------------------------------------------------------- finding units
    def unit_of(self, t) -> tuple[int, bool] | None:
        """(unit, whether t is its weight transposed) for a weight or a transposed view of
        one; None for an activation. New weights are units while the network is analysed."""
        view = self.views.get(id(t))
        param, transposed = (view[1], True) if view is not None and view[0] is t else (t, False)
        i = self.index.get(id(param))
        if i is not None and self.net.units[i].weight is param:
            return i, transposed
        if self.rec is not None and isinstance(param, torch.nn.Parameter):
            return self.rec.new_unit(self, param), transposed
        return None

    def _transpose(self, func, args, kwargs):
        out = func(*args, **kwargs)
        src = args[0]
        if isinstance(src, torch.nn.Parameter) and src.dim() == 2:
            self.views[id(out)] = (out, src)  # W.T, W.t(), W.mT, W.transpose(0, 1)
        return out

    # ---------------------------------------------------------------------- unit calls
    def unit_call(self, i: int, x, float_call, kind: str, conv=None, rows=None,
                  transposed_use: bool = False, bias=None, einsum=None, grad=None):
        """Unit i on input x (float_call() is the same product in float); bias: the bias
        parameter the call passes; einsum: (equation, whether the weight comes first);
        grad: (the weight as passed, product(x, w, b) on other operands) for the plan's
        gradient rule."""
        u = self.net.units[i]
        if self.plan is None:
            z = float_call()
            if self.rec is not None:
                self.rec.unit_called(self, i, x, z, kind, conv, transposed_use, bias, einsum)
            if kind == "einsum":  # (not part of S(w): see sensitivity)
                return z
            if u.folded:
                self.pending[id(z)] = (z, i, x, None)
                return z
            return self._float_out(i, x, z, u)
        shared = bool(self.trials) and x is self.inputs and self.net.shared_first
        if einsum is not None:
            y = self.plan.einsum(i, x, *einsum, shared=shared)
        else:
            call = LayerCall(kind, trials=self.trials, shared=shared, conv=conv)
            y = self.plan.layer(i, call, x, rows)
        if u.folded:
            if self.ste and torch.is_grad_enabled():  # the float path's BatchNorm, then STE
                z = self.backward_path(i, x, float_call, bias, grad, kind, rows, folded=True)
                self.pending[id(z)] = (z, i, x, y)
                return z
            self.pending[id(y)] = (y, i, x, y)
            return y
        if self.ste and torch.is_grad_enabled():
            y = hw.straight_through(
                y, self.backward_path(i, x, float_call, bias, grad, kind, rows), self.plan.ste_clip)
        if self.observe is not None:
            self.observe(i, x, y)
        return y

    def backward_path(self, i, x, float_call, bias, grad, kind, rows, folded=False):
        """The float product (STE), or one with the plan's rule's gradient (a folded unit's
        value stays the float product's, for its BatchNorm): hardware.gradients."""
        rule = self.plan.rule(i)
        if rule is None or grad is None:
            return float_call()
        s = self.plan.backward_mix(i, hw.gradients.surrogate(
            rule, x, grad[0], bias, self.plan.fl(i, x), self.plan.weight_fl[i], grad[1]),
            float_call, kind, rows)
        with torch.no_grad():  # a folded unit: the float product's value, the rule's gradient
            z = float_call() if folded else None
        return s if z is None else z + (s - s.detach())

    def _float_out(self, i, x, y, u, z=None):
        if self.tape is not None:
            y = self.tape.unit(i, x, y, u, z)
        if self.observe is not None:
            self.observe(i, x, y)
        return y

    def _batch_norm(self, func, args, kwargs):
        x = args[0] if args else kwargs.get("input")
        entry = self.pending.pop(id(x), None)
        if entry is None or entry[0] is not x:
            return func(*args, **kwargs)
        z, i, a, y_hw = entry
        u = self.net.units[i]
        if y_hw is None:  # float: the BatchNorm as the model runs it
            return self._float_out(i, a, func(*args, **kwargs), u, z)
        y = y_hw
        if y_hw is not x:  # STE: the float BatchNorm (its batch statistics in training)
            y = hw.straight_through(y_hw, func(*args, **kwargs), self.plan.ste_clip)
        if self.observe is not None:
            self.observe(i, a, y)
        return y

    # --------------------------------------------------------------------- the products
    def _linear(self, func, args, kwargs):
        x, w = args[0], args[1] if len(args) > 1 else kwargs["weight"]
        b = args[2] if len(args) > 2 else kwargs.get("bias")
        found = self.unit_of(w)
        if found is None:  # x W^T + b of two activations
            y = self.pair("linear", x, w.transpose(-1, -2), torch.matmul)
            return y if b is None else y + b
        i, view = found
        return self.unit_call(i, x, lambda: func(*args, **kwargs), "fc", transposed_use=view,
                              bias=b, grad=(w, lambda x_, w_, b_: func(x_, w_, b_)))

    def _conv(self, func, args, kwargs):
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        given = {**dict(zip(names, args)), **kwargs}
        found = self.unit_of(given["weight"])
        if found is None:
            return self.refuse(func, args, kwargs, "a convolution by an activation")
        conv = tuple(given.get(k, d) for k, d in (("stride", 1), ("padding", 0),
                                                   ("dilation", 1), ("groups", 1)))
        return self.unit_call(found[0], given["input"], lambda: func(*args, **kwargs), "conv",
                              conv, bias=given.get("bias"), grad=(
                                  given["weight"], lambda x_, w_, b_: func(x_, w_, b_, *conv)))

    def _matmul(self, func, args, kwargs):
        a, b = args[0], args[1]
        fb, fa = self.unit_of(b), self.unit_of(a)
        if fb is not None and fa is None and b.dim() == 2:  # x @ W (or x @ W.T)
            i, view = fb
            return self.unit_call(i, a, lambda: func(*args, **kwargs), "fc",
                                  transposed_use=not view,
                                  grad=(b, lambda x_, w_, b_: func(x_, w_)))
        if fa is not None and fb is None and a.dim() == 2:  # W @ x: (x^T W^T)^T
            i, view = fa
            return self.unit_call(i, b.transpose(-1, -2), lambda: func(*args, **kwargs).mT,
                                  "fc", transposed_use=view, grad=(
                                      a, lambda x_, w_, b_: func(w_, x_.mT).mT)
                                  ).transpose(-1, -2)
        return self.pair("matmul" if func not in (torch.bmm, torch.Tensor.bmm) else "bmm",
                         a, b, torch.matmul)

    def _rmatmul(self, func, args, kwargs):
        return self._matmul(torch.matmul, (args[1], args[0]), {})

    def _addmm(self, func, args, kwargs):
        bias, a, b = args[0], args[1], args[2]
        if kwargs.get("beta", 1) != 1 or kwargs.get("alpha", 1) != 1:
            return self.refuse(func, args, kwargs, "addmm with beta or alpha")
        found = self.unit_of(b) if self.unit_of(a) is None else None
        if found is not None and isinstance(bias, torch.nn.Parameter):  # x W + b (HF Conv1D)
            i, view = found
            return self.unit_call(i, a, lambda: func(*args, **kwargs), "fc",
                                  transposed_use=not view, bias=bias,
                                  grad=(b, lambda x_, w_, b_: func(b_, x_, w_)))
        return self._matmul(torch.matmul, (a, b), {}) + bias

    def _einsum(self, func, args, kwargs):
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        if len(operands) != 2:
            return self.refuse(func, args, kwargs, f"einsum of {len(operands)} operands")
        a, b = operands
        fa, fb = self.unit_of(a), self.unit_of(b)
        if (fa is None) != (fb is None):  # an activation and a stored weight
            i, _ = fa or fb
            pick = (lambda x_, w_: (w_, x_)) if fa else (lambda x_, w_: (x_, w_))
            return self.unit_call(i, b if fa else a, lambda: func(*args, **kwargs), "einsum",
                                  einsum=(equation, fa is not None), grad=(a if fa else b, (
                                      lambda x_, w_, b_: torch.einsum(equation, *pick(x_, w_)))))
        return self.pair("einsum", a, b, lambda x, y: torch.einsum(equation, x, y),
                         einsum=equation)

    def pair(self, op: str, a, b, combine, einsum: str | None = None):
        """A product of two activations, the next pair of this forward."""
        j = self.pairs
        self.pairs += 1
        if self.rec is not None:
            self.rec.pair_called(self, j, op, a, b, einsum)
        if self.observe_pair is not None:
            self.observe_pair(j, a, b)
        if self.plan is None:
            return combine(a, b)
        y = self.plan.pair(j, a, b, einsum)
        if self.ste and torch.is_grad_enabled():
            y = hw.straight_through(y, combine(a, b), self.plan.ste_clip)
        return y

    def _embedding(self, func, args, kwargs):
        x, w = args[0], args[1] if len(args) > 1 else kwargs["weight"]
        found = self.unit_of(w)
        if found is None or self.plan is None:
            out = func(*args, **kwargs)
            if self.rec is not None and found is not None:
                self.rec.unit_called(self, found[0], x, out, "embedding", None, False, None,
                                     None)
            return out
        table = self.plan.weights[found[0]]  # (T, V, E) with trials
        if not self.trials:
            out = func(x, table, *args[2:], **kwargs)
            if self.ste and torch.is_grad_enabled():  # the stored table's gradient
                out = hw.straight_through(out, func(*args, **kwargs), self.plan.ste_clip)
            return out
        t, v = self.trials, table.shape[1]
        if x is self.inputs and self.net.shared_first:
            x = x.repeat(t, *([1] * (x.dim() - 1)))
        offset = torch.arange(t, device=x.device).repeat_interleave(x.shape[0] // t) * v
        x = x + offset.view(-1, *([1] * (x.dim() - 1)))
        return func(x, table.reshape(t * v, -1), *args[2:], **kwargs)

    def refuse(self, func, args, kwargs, what: str | None = None):
        """A product axtrain does not run on the hardware models: NetworkError by name, or
        with unsupported=float its float result (counted so in the coverage)."""
        name = what or ops.UNSUPPORTED.get(func, getattr(func, "__name__", str(func)))
        if self.unsupported != "float":
            raise NetworkError(f"{type(self.net.model).__name__} runs {name}: its products "
                               "would bypass the hardware models (allowed: Linear, Conv1d, "
                               "Conv2d, matmul, einsum, attention; or hardware.unsupported="
                               "float to run it in float, counted in the coverage)")
        if self.rec is not None:
            return self.rec.float_call(self, func, args, kwargs, name)
        return func(*args, **kwargs)


def _attention(run, func, args, kwargs):
    from .attention import sdpa

    return sdpa(run, *args, **kwargs)


def _mha(run, func, args, kwargs):
    from .attention import multi_head_attention

    return multi_head_attention(run, func, args, kwargs)


HANDLERS = {
    **{f: Run._linear for f in ops.LINEAR}, **{f: Run._conv for f in ops.CONV},
    **{f: Run._matmul for f in ops.MATMUL}, **{f: Run._rmatmul for f in ops.RMATMUL},
    **{f: Run._addmm for f in ops.ADDMM}, **{f: Run._einsum for f in ops.EINSUM},
    **{f: Run._batch_norm for f in ops.BATCHNORM}, **{f: Run._embedding for f in ops.EMBEDDING},
    **{f: Run._transpose for f in ops.TRANSPOSE}, **{f: _attention for f in ops.SDPA},
    **{f: _mha for f in ops.MHA}, **{f: Run.refuse for f in ops.UNSUPPORTED},
}
# a chain network's float forward with a tape: its ops recorded for the explicit backward
CHAIN = {**HANDLERS, **{f: (lambda run, f_, a, k: run.tape.relu(f_, a, k)) for f in ops.RELU},
         **{f: (lambda run, f_, a, k: run.tape.max_pool(f_, a, k)) for f in ops.MAXPOOL},
         **{f: (lambda run, f_, a, k: run.tape.flatten(f_, a, k)) for f in ops.FLATTEN}}
