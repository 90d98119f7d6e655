"""Any PyTorch network on the hardware models: `GraphNet` wraps an `nn.Module` traced with
torch.fx and runs it as the accelerator would, with the interface of the paper's `Net`
(models.py), so every method, the sweep and the report take it as they are.

What runs on the hardware model. Every `nn.Linear` and `nn.Conv2d` (any stride, padding,
dilation and groups, depthwise included) is a compute layer: activations and weights in
fixed point, products by the knob's multiplier, weights and biases read through its
memory. A BatchNorm that directly follows a compute layer (its only user) is folded into
it for the hardware, as accelerators run it: with its running statistics,
W' = W g / sqrt(var + eps) per output channel, b' = (b - mean) g / sqrt(var + eps) + beta;
W' and b' are the words the SRAM holds. During hardware-aware training (pas, the
fine-tunes, the baselines' retraining) the folded layer runs on the hardware in the
forward pass and the float layer with its BatchNorm in training mode is what the
straight-through estimator differentiates (its batch statistics update the running ones
the next fold uses). Everything else (activations, pooling, residual additions,
concatenations, reshapes, dropout and BatchNorm elsewhere) runs in float.

The trials of a stochastic memory run in one batched pass with the trials folded into the
batch, (T*N, ...): every float operation runs on them unchanged, and each compute layer
multiplies trial t's rows by trial t's weights (one batched GEMM, or one grouped
convolution with T times the groups).

Sensitivity (act, Eq. 5): the tape a `logits(..., tape=[])` call fills holds, per compute
layer, its input a, its output z (after a folded BatchNorm) and its effective weight (the
folded one: for the sensitivity the BatchNorm's statistics are held constant, running or,
in training mode, the batch's own), from which `sensitivity` takes the per-sample deltas
dO_k/dz by autograd on any graph (residual branches included).
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from . import hardware as hw
from .hardware import LayerCall

COMPUTE = (nn.Linear, nn.Conv2d)
BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d)
_STATE = threading.local()  # the call in progress (GraphNet.logits), read by _HwLayer


class GraphError(ValueError):
    """A model axtrain cannot run: the message names the module or operation and why."""


@dataclass
class Unit:
    """One compute layer of a GraphNet: the Linear/Conv2d module and the BatchNorm folded
    into it (or None). `weight` and `bias` are what the accelerator stores (folded with the
    running statistics; a layer without a bias stores none: zeros)."""

    module: nn.Module
    bn: nn.Module | None
    name: str

    @property
    def kind(self) -> str:
        return "fc" if isinstance(self.module, nn.Linear) else "conv"

    @property
    def folded(self) -> bool:
        return self.bn is not None

    @property
    def has_bias(self) -> bool:
        return self.module.bias is not None or self.folded

    def scale(self, var: torch.Tensor | None = None) -> torch.Tensor:
        """g / sqrt(var + eps) per output channel (var: the running variance by default)."""
        bn = self.bn
        var = bn.running_var if var is None else var
        g = bn.weight if bn.affine else torch.ones_like(var)
        return g / torch.sqrt(var + bn.eps)

    def _shape(self, v: torch.Tensor) -> torch.Tensor:
        return v.view(-1, *([1] * (self.module.weight.dim() - 1)))

    @property
    def weight(self) -> torch.Tensor:
        w = self.module.weight
        return w if self.bn is None else w * self._shape(self.scale())

    @property
    def bias(self) -> torch.Tensor:
        m, bn = self.module, self.bn
        b = m.bias if m.bias is not None else torch.zeros(
            m.weight.shape[0], device=m.weight.device, dtype=m.weight.dtype)
        if bn is None:
            return b
        beta = bn.bias if bn.affine else torch.zeros_like(b)
        return (b - bn.running_mean) * self.scale() + beta

    def __getattr__(self, name):  # a conv's stride, padding, dilation and groups
        if name in ("stride", "padding", "dilation", "groups"):
            return getattr(self.module, name)
        raise AttributeError(name)

    def float_out(self, x: torch.Tensor) -> torch.Tensor:
        """The float layer's output, BatchNorm included (in its own mode)."""
        z = self.module(x)
        return z if self.bn is None else self.bn(z)

    def sensitivity_weight(self, z: torch.Tensor) -> torch.Tensor:
        """The weight the sensitivity weighs: folded with the statistics held constant (the
        batch's own of the compute output z in training mode, else the running ones)."""
        if self.bn is None:
            return self.module.weight
        var = None  # the running variance
        if self.bn.training:
            var = z.detach().var(dim=[0] + list(range(2, z.dim())), unbiased=False)
        return self.module.weight * self._shape(self.scale(var))  # differentiable in g


class _HwLayer(nn.Module):
    """Stands in the traced graph for compute layer i (and its folded BatchNorm)."""

    def forward(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return _STATE.net._unit(i, x, _STATE.call)


@dataclass
class _Call:
    plan: object
    ste: bool
    observe: object
    tape: list | None
    trials: int | None


class GraphNet(nn.Module):
    """A user's nn.Module run as the accelerator would (see the module docstring). The
    model is `self.model` (its state_dict is the GraphNet's under `model.`); `compute` are
    its compute layers in the order the graph runs them."""

    def __init__(self, model: nn.Module, input_shape: list[int], n_classes: int,
                 output_activation: str = "sigmoid", label: str | None = None):
        super().__init__()
        self.model = model
        self.input_shape = list(input_shape)
        self.output_activation = output_activation
        self.label = label or type(model).__name__
        self.calibration_batch = 256  # samples per pass of models.calibrate
        self._trace: list[dict] | None = None
        graph, units, shared = _transform(model)
        self.units = units
        self.shared_first = shared
        # the graph module shares the model's modules; kept out of the module tree so the
        # state_dict, .to() and deepcopy see each module once (through self.model)
        self.__dict__["_gm"] = fx.GraphModule(_Modules(model), graph, type(model).__name__)
        self._gm.graph.lint()
        self.ops = str(graph)  # the program, for the architecture hash
        n_out = self._check(n_classes)
        if n_out != n_classes:
            raise GraphError(f"{type(model).__name__} gives {n_out} outputs per sample, the "
                             f"dataset has {n_classes} classes")

    def _check(self, n_classes) -> int:
        was = self.training
        self.eval()  # BatchNorm's running statistics stay as they are
        try:
            with torch.no_grad():
                w = self.units[0].module.weight
                z = self.logits(torch.zeros(2, *self.input_shape, dtype=w.dtype,
                                            device=w.device))
        except GraphError:
            raise
        except Exception as e:
            raise GraphError(f"{type(self.model).__name__} does not run on inputs of shape "
                             f"{self.input_shape}: {type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]}") from None
        finally:
            self.train(was)
        if z.dim() != 2:
            raise GraphError(f"{type(self.model).__name__} returns shape {list(z.shape)} for "
                             f"a batch of 2: allowed (batch, n_classes) logits")
        return z.shape[1]

    @property
    def compute(self) -> list[Unit]:
        return self.units

    def outputs(self, x, plan=None, ste: bool = False):
        z = self.logits(x, plan, ste)
        return torch.sigmoid(z) if self.output_activation == "sigmoid" else torch.softmax(z, -1)

    forward = outputs

    def logits(self, x: torch.Tensor, plan=None, ste: bool = False, observe=None,
               tape: list | None = None):
        """Pre-activation outputs, (N, K), or (T, N, K) for a plan with T trials (see
        models.Net.logits for `observe`; `tape` receives (i, a, z, effective weight) per
        compute layer, float network only)."""
        trials = plan.trials if plan is not None else None
        if trials and not self.shared_first:
            x = x.repeat(trials, *([1] * (x.dim() - 1)))
        saved = getattr(_STATE, "net", None), getattr(_STATE, "call", None)
        _STATE.net, _STATE.call = self, _Call(plan, ste, observe, tape, trials)
        try:
            z = self._gm(x)
        finally:
            _STATE.net, _STATE.call = saved
        return z.view(trials, -1, z.shape[-1]) if trials else z

    def _unit(self, i: int, x: torch.Tensor, call: _Call) -> torch.Tensor:
        u = self.units[i]
        if call.plan is None:
            z = u.module(x)
            y = z if u.bn is None else u.bn(z)
            if call.tape is not None:
                call.tape.append((i, x, y, u.sensitivity_weight(z)))
        else:
            shared = bool(call.trials) and i == 0 and self.shared_first
            lc = LayerCall(u.kind, u.module, call.trials, shared, folded=True)
            y = call.plan.layer(i, lc, x)
            if call.ste:  # Eq. 12: gradients pass the approximate layer as if exact
                y = hw.straight_through(y, u.float_out(x), call.plan.ste_clip)
        if call.observe is not None:
            call.observe(i, x, y)
        return y

    def trace(self) -> list[dict]:
        """Per compute layer and per inference: input and output sizes, multiplications."""
        if self._trace is None:
            trace = []

            def observe(i, a, z):
                per_output = self.units[i].module.weight[0].numel()  # fan-in of one output
                trace.append({"inputs": a[0].numel(), "outputs": z[0].numel(),
                              "mults": z[0].numel() * per_output})

            was = self.training
            self.eval()
            with torch.no_grad():
                w = self.units[0].module.weight
                self.logits(torch.zeros(1, *self.input_shape, dtype=w.dtype, device=w.device),
                            observe=observe)
            self.train(was)
            self._trace = trace
        return self._trace

    def mult_counts(self) -> list[int]:
        return [t["mults"] for t in self.trace()]

    def word_counts(self, store_biases: bool = True) -> list[int]:
        """Stored parameter words per compute layer (a layer without bias stores none)."""
        return [u.module.weight.numel() + (u.module.weight.shape[0]
                                           if store_biases and u.has_bias else 0)
                for u in self.units]

    def floats_per_sample(self, trials: int) -> int:
        """The widest activation per input sample with `trials` trials (chunking the test
        set); residual branches may hold a few at once, hence twice the widest."""
        tr = self.trace()
        return 2 * max(1, trials) * max(max(t["inputs"], t["outputs"]) for t in tr)


class _Modules(nn.Module):
    """The traced graph's root: the model's modules under their own names, shared."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.__dict__["_model"] = model
        self.axtrain_hw = _HwLayer()

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_model"], name)


def _transform(model: nn.Module) -> tuple[fx.Graph, list[Unit], bool]:
    """The model's graph with every compute layer (and the BatchNorm folded into it) run
    by `_HwLayer`; its units in graph order; whether the input's only use is the first
    compute layer (then the trials start at that layer's output)."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:
        raise GraphError(f"{type(model).__name__} cannot be traced by torch.fx "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:200]}): a model "
                         "whose control flow depends on its input's values cannot be "
                         "run on the hardware models") from None
    graph = gm.graph
    modules = dict(model.named_modules())
    for node in graph.nodes:
        if node.op == "call_function" and node.target in (F.linear, F.conv2d, torch.conv2d,
                                                          torch.matmul, F.conv1d):
            raise GraphError(f"{type(model).__name__} calls {_name(node.target)} on its own "
                             f"(node {node.name}): its multiplications would bypass the "
                             "hardware model; use nn.Linear / nn.Conv2d modules")
        if node.op == "call_module" and isinstance(modules[node.target],
                                                   (nn.Conv1d, nn.Conv3d, nn.ConvTranspose2d,
                                                    nn.Bilinear, nn.MultiheadAttention)):
            raise GraphError(f"{type(model).__name__}.{node.target} is a "
                             f"{type(modules[node.target]).__name__}: allowed compute layers "
                             "are nn.Linear and nn.Conv2d")
    units: list[Unit] = []
    hw_node = None
    for node in list(graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], COMPUTE):
            continue
        module, bn, out = modules[node.target], None, node
        users = list(node.users)
        if (len(users) == 1 and users[0].op == "call_module"
                and isinstance(modules[users[0].target], BATCHNORM)
                and modules[users[0].target].track_running_stats
                and users[0].args[0] is node):
            bn, out = modules[users[0].target], users[0]
        with graph.inserting_before(node):
            hw_node = graph.create_node("call_module", "axtrain_hw", (len(units), node.args[0]))
        out.replace_all_uses_with(hw_node)
        units.append(Unit(module, bn, node.target))
        if bn is not None:
            graph.erase_node(out)
        graph.erase_node(node)
    if not units:
        raise GraphError(f"{type(model).__name__} has no compute layer (nn.Linear or "
                         "nn.Conv2d): nothing would run on the hardware models")
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise GraphError(f"{type(model).__name__}.forward takes {len(inputs)} inputs: "
                         "allowed one (the batch)")
    users = list(inputs[0].users)
    first = next(n for n in graph.nodes if n.op == "call_module" and n.target == "axtrain_hw")
    shared = len(users) == 1 and users[0] is first and first.args[1] is inputs[0]
    return graph, units, shared


def _name(target) -> str:
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__name__', target)}"


def build(spec, input_shape: list[int], n_classes: int) -> GraphNet:
    """The network a topology config with `_target_` names: its class imported and built
    with the config's other keys (less `name` and `output_activation`) and the dataset's
    `input_shape` and `n_classes`."""
    from omegaconf import OmegaConf

    args = OmegaConf.to_container(spec, resolve=True) if OmegaConf.is_config(spec) else dict(spec)
    target = args.pop("_target_")
    label = args.pop("name", None)
    activation = args.pop("output_activation", "sigmoid")
    cls = model_class(target)
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in args:
        if key not in params and not takes_any:
            raise GraphError(f"topology.{key}: {target} takes no argument {key!r} (allowed "
                             f"{', '.join(k for k in params if k not in ('self',))})")
    for key, value in (("input_shape", list(input_shape)), ("n_classes", n_classes)):
        if key in params or takes_any:
            args[key] = value
    try:
        model = cls(**args)
    except Exception as e:
        raise GraphError(f"topology._target_={target}: building it failed ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]})") from None
    return GraphNet(model, input_shape, n_classes, activation, label)


def model_class(target: str) -> type:
    """The nn.Module class `module.Class` names (the module on the Python path)."""
    import importlib

    module, _, name = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except ImportError as e:
        raise GraphError(f"topology._target_={target}: cannot import {module} ({e}); put its "
                         "file on the Python path (e.g. PYTHONPATH=.)") from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise GraphError(f"topology._target_={target} is not a torch.nn.Module class: allowed "
                         "module.Class of an nn.Module subclass")
    return cls


class OnHardware(nn.Module):
    """`model` as the accelerator runs it for one knob (see `on_hardware`)."""

    def __init__(self, net: GraphNet, knob, bits: int, act_fl: list, weight_format: str,
                 store_biases: bool, generator: torch.Generator | None, ste_clip: float):
        super().__init__()
        self.net, self.knob, self.bits, self.act_fl = net, knob, bits, act_fl
        self.weight_format, self.store_biases = weight_format, store_biases
        self.generator = generator or torch.Generator().manual_seed(0)
        self.ste_clip = ste_clip

    def plan(self):
        """The stored words as read now (a stochastic memory: a fresh read each time)."""
        from .evaluate import make_plan

        with torch.no_grad():
            act_fl = [None] * len(self.act_fl) if self.training else self.act_fl
            return make_plan(self.net, self.knob, self.bits, act_fl, generator=self.generator,
                             store_biases=self.store_biases, ste_clip=self.ste_clip,
                             weight_format=self.weight_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the hardware network; in training mode its gradients reach the model's
        parameters through the straight-through estimator (Eq. 12)."""
        return self.net.logits(x, self.plan(), ste=self.training and torch.is_grad_enabled())


def on_hardware(model: nn.Module, knob, calibration_data: torch.Tensor, *, bits: int = 16,
                weight_format: str = "dynamic", store_biases: bool = True,
                generator: torch.Generator | None = None,
                ste_clip: float = 1.0) -> OnHardware:
    """Your own nn.Module as the accelerator runs it for `knob`, for your own evaluation
    and training loops: its Linear and Conv2d layers in `bits`-bit fixed point (activation
    ranges measured on `calibration_data`, a batch of inputs; per batch while training),
    products by the knob's multiplier, weights and biases read through its memory (a
    stochastic one afresh at every call), BatchNorms after them folded in. `knob`: a knob
    name of the paper's set (`K1`, `ntv660`, ...), or {multiplier: {...}, memory: {...}}
    as in a knob config, or a `knobs.Knob`. The model's parameters stay its own: training
    the returned module (mode train) updates them through the straight-through estimator.
    """
    from .knobs import Knob, build, paper_knob
    from .models import calibrate

    if not isinstance(knob, Knob):
        knob = paper_knob(knob, bits) if isinstance(knob, str) else build("knob", knob, bits)
    x = calibration_data
    net = GraphNet(model, list(x.shape[1:]), _outputs(model, x))
    was = net.training
    net.eval()
    act_fl = calibrate(net, x, bits)
    net.train(was)
    return OnHardware(net, knob, bits, act_fl, weight_format, store_biases, generator,
                      ste_clip).train(was)


def _outputs(model: nn.Module, x: torch.Tensor) -> int:
    was = model.training
    model.eval()
    with torch.no_grad():
        n = model(x[:2]).shape[-1]
    model.train(was)
    return n
