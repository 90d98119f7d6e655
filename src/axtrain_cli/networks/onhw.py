"""`on_hardware(model, knob, calibration_data)`: your own nn.Module as the accelerator runs
it, for your own evaluation and training loops."""

from __future__ import annotations

import torch
from torch import nn

from ..hardware import gradient_rule
from .network import Network, read_logits
from .plan import calibrate, make_plan


class OnHardware(nn.Module):
    """`model` as the accelerator runs it for one knob (see `on_hardware`). The words are
    read and prepared once and kept while the model's parameters and buffers are
    unchanged (a reliable memory); a stochastic memory is read afresh at every call."""

    def __init__(self, net: Network, knob, bits: int, ranges, weight_format: str,
                 store_biases: bool, generator: torch.Generator | None, ste_clip: float,
                 gradient: str = "ste", gradient_window: int = 4):
        super().__init__()
        self.net, self.knob, self.bits, self.ranges = net, knob, bits, ranges
        self.weight_format, self.store_biases = weight_format, store_biases
        self.generator = generator or torch.Generator().manual_seed(0)
        self.ste_clip, self.gradient, self.window = ste_clip, gradient, gradient_window
        self._plan, self._state = None, None
        self._tensors = [*net.parameters(), *net.buffers()]  # what the plan is made of

    def _apply(self, fn, *args, **kwargs):  # .to(), .double(): new buffers, a new plan
        out = super()._apply(fn, *args, **kwargs)
        self._plan, self._tensors = None, [*self.net.parameters(), *self.net.buffers()]
        return out

    @property
    def coverage(self):
        """What of the model runs on the hardware (Network.coverage)."""
        return self.net.coverage

    def plan(self):
        """The stored words as read now, prepared for the knob's multiplier."""
        state = (self.training, *(t._version for t in self._tensors))
        if self._plan is not None and state == self._state and not self.knob.stochastic:
            return self._plan
        with torch.no_grad():  # in training: each batch's own activation ranges
            self._plan = make_plan(self.net, self.knob, self.bits,
                                   None if self.training else self.ranges,
                                   generator=self.generator, store_biases=self.store_biases,
                                   ste_clip=self.ste_clip, weight_format=self.weight_format,
                                   gradient=self.gradient, gradient_window=self.window)
        self._state = state
        return self._plan

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Logits of the hardware network (keyword arguments go to the model's forward); in
        training mode its gradients reach the model's parameters through `gradient` (the
        straight-through estimator by default, Eq. 12)."""
        return self.net.logits(x, self.plan(), ste=self.training and torch.is_grad_enabled(),
                               kwargs=kwargs)


def on_hardware(model: nn.Module, knob, calibration_data: torch.Tensor, *, bits: int = 16,
                weight_format: str = "dynamic", store_biases: bool = True,
                generator: torch.Generator | None = None, ste_clip: float = 1.0,
                gradient: str = "ste", gradient_window: int = 4, unsupported: str = "refuse",
                calibration_kwargs: dict | None = None) -> OnHardware:
    """Your own nn.Module as the accelerator runs it for `knob`, its own forward called:
    its products (Linear, Conv1d, Conv2d, matmul and einsum on a parameter, attention) in
    `bits`-bit fixed point (activation ranges measured on `calibration_data`, a batch of
    inputs, whose dtype it takes: token ids are integers; per batch while training), by
    the knob's multiplier, weights and biases read through its memory (a stochastic one
    afresh at every call), BatchNorms after them folded in. `knob`: a knob name of the
    paper's set (`K1`, `ntv660`, ...), or {multiplier: {...}, memory: {...}} as in a knob
    config, or a `knobs.Knob`. The model's parameters stay its own: training the returned
    module (mode train) updates them through the straight-through estimator, or with
    `gradient="difference"` or `"slope"` through the multiplier's own products
    (hardware.gradients; `gradient_window` the smoothing's half-width). Its
    `coverage` says what runs on the hardware; `unsupported="float"` runs what axtrain
    does not model in float instead of refusing it. Keyword arguments of the model's
    forward go with each call (`hw(x, mask=m)`), and with the calibration batch as
    `calibration_kwargs` (the ranges are measured on what the model will see)."""
    from ..knobs import Knob, build, paper_knob

    if not isinstance(knob, Knob):
        knob = paper_knob(knob, bits) if isinstance(knob, str) else build("knob", knob, bits)
    for mult in knob.multipliers if knob.multiplier is not None else []:
        gradient_rule(mult, gradient, bits, gradient_window)  # one it cannot give: ValueError
    x = calibration_data
    was = model.training
    model.eval()
    with torch.no_grad():
        n = read_logits(model(x[:2]), model).shape[-1]
    model.train(was)
    net = Network(model, list(x.shape[1:]), n, sample=x[:2], unsupported=unsupported)
    knob.check_units(net.units)  # a layer entry that names none: ValueError now
    ranges = calibrate(net, x, bits, calibration_kwargs)
    return OnHardware(net, knob, bits, ranges, weight_format, store_biases, generator,
                      ste_clip, gradient, gradient_window).train(was)
