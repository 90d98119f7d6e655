"""Ground truth by fault injection: per neuron, the validation loss increase and accuracy
drop when only that neuron is faulty, the rest of the network exact fixed point.

multiplier  only the neuron's products use the knob's approximate multiplier: the layer's
            output as exact fixed point, the neuron's own as the approximate multiplier
            gives it (the same inputs: every other neuron is exact)
flips       only the neuron's weights are read with bit flips at `rate`, `reads` reads each
            (the mean over reads): the layer's exact output plus the products of the input
            with the flipped words' differences, which exact fixed point sums exactly

Neurons are injected in batches: the validation data repeated once per (neuron, read) copy,
one forward of the whole batch, the injected layer changing each copy's own neuron only
(`InjectPlan`). `budget` bounds the samples of one forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import hardware as hw
from ..networks import HwPlan
from ..training import loss_per_sample
from .predictors import neuron_dim


class InjectPlan(HwPlan):
    """Exact fixed point on `copies` copies of a batch stacked along the first dimension;
    unit `target`'s output changed per copy by `change(y, x, call)`. The units the forward
    runs before the target see the same input in every copy: their products are computed
    once and repeated."""

    target: int = -1
    copies: int = 1
    change = None

    def layer(self, i, call, x, rows=None):
        if i < self.target and self.copies > 1 and len(x) % self.copies == 0:
            one = super().layer(i, call, x[:len(x) // self.copies], rows)
            return one.repeat(self.copies, *([1] * (one.dim() - 1)))
        y = super().layer(i, call, x, rows)
        return self.change(y, x, call) if i == self.target and rows is None else y


def _mask(unit, y, copies: int, neurons: list[int]) -> torch.Tensor:
    """(copies, 1, ...) bool, True at copy k's neuron, broadcasting over y.view(copies, -1, ...)."""
    d = neuron_dim(unit, y)
    shape = [copies, 1] + [1] * (y.dim() - 1)
    shape[d + 1] = y.shape[d]
    m = torch.zeros(shape, dtype=torch.bool)
    idx = [slice(None)] * len(shape)
    for k, j in enumerate(neurons):
        idx[0], idx[d + 1] = k, j
        m[tuple(idx)] = True
    return m


def _metrics(z, y, copies: int, loss: str, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    z = z.view(copies, -1, z.shape[-1])
    return (loss_per_sample(z, y.expand(copies, -1), loss, n_classes).mean(-1),
            (z.argmax(-1) == y).float().mean(-1))


@torch.no_grad()
def inject(net, x, y, exact: HwPlan, approx: HwPlan | None, unit_index: int, neurons: list[int],
           loss: str, n_classes: int, *, rate: float = 0.0, reads: int = 1,
           generator: torch.Generator | None = None, budget: int = 1 << 15):
    """(loss, accuracy) per neuron of `neurons` of unit `unit_index`: its products on
    `approx`'s multiplier (approx given), or its weights read with flips at `rate`
    (`reads` reads, averaged). Tensors of len(neurons)."""
    unit = net.units[unit_index]
    per = reads if approx is None else 1
    step = max(1, budget // (len(x) * per))
    losses, accs = [], []
    for s in range(0, len(neurons), step):
        chunk = neurons[s:s + step]
        copies = len(chunk) * per
        plan = InjectPlan(**{f: getattr(exact, f) for f in ("bits", "multiplier", "weights",
                                                            "weight_fl", "biases", "ranges")})
        # (a layer the forward runs twice may run after the target too: computed in full)
        plan.target = unit_index
        plan.copies = copies if all(u.calls == 1 for u in net.units) else 1
        if approx is not None:
            plan.change = _by_multiplier(unit, approx, unit_index, copies, chunk)
        else:
            plan.change = _by_flips(unit, exact, unit_index, chunk, rate, reads, generator)
        z = net.logits(x.repeat(copies, *([1] * (x.dim() - 1))), plan)
        lo, ac = _metrics(z, y, copies, loss, n_classes)
        losses.append(lo.view(len(chunk), per).mean(1))
        accs.append(ac.view(len(chunk), per).mean(1))
    return torch.cat(losses), torch.cat(accs)


def _by_multiplier(unit, approx, i, copies, neurons):
    def change(y, x, call):
        ya = approx.unit_multiplier(i).layer(x, approx.fl(i, x), approx.bits, approx.weights[i],
                                             approx.weight_fl[i], approx.biases[i], call)
        m = _mask(unit, y, copies, neurons)
        v = y.view(copies, -1, *y.shape[1:])
        return torch.where(m, ya.view_as(v), v).view_as(y)
    return change


def _by_flips(unit, exact, i, neurons, rate, reads, generator):
    """The neuron's row of weight words read `reads` times with flips; the layer's output
    plus the input's products with (read - stored) words of that row, per copy: one
    einsum (a Linear) or one grouped convolution for every copy at once."""
    bits, fw = exact.bits, exact.weight_fl[i]
    w = exact.weights[i]  # (out, in, ...) as the layer multiplies, values of the words
    words = torch.round(w * 2.0 ** fw).long()
    rows = words[neurons]  # (K, in, ...)
    read = hw.Flips(voltage_mv=0.0, rate=rate).read(rows, bits, reads, generator)
    delta = (read - rows).transpose(0, 1).reshape(-1, *rows.shape[1:]).to(w.dtype) * 2.0 ** -fw
    copies = len(neurons) * reads
    owner = torch.tensor([j for j in neurons for _ in range(reads)])
    every = torch.arange(copies)

    def change(y, x, call):
        xq = hw.fake_quant(x, exact.fl(i, x), bits)  # the values the layer multiplies
        n = len(x) // copies
        xs = xq.view(copies, n, *xq.shape[1:])
        out = y.view(copies, n, *y.shape[1:]).clone()
        if unit.kind == "fc":
            out[every, ..., owner] += torch.einsum("cn...i,ci->cn...", xs, delta)
            return out.view_as(y)
        stride, padding, dilation, groups = unit.conv
        cin = w.shape[1]
        if groups > 1:  # each copy's neuron reads its own group's channels
            first = (owner // (w.shape[0] // groups)) * cin
            xs = torch.stack([xs[c][:, f:f + cin] for c, f in enumerate(first.tolist())])
        conv = F.conv2d if w.dim() == 4 else F.conv1d
        flat = xs.transpose(0, 1).reshape(n, copies * cin, *xs.shape[3:])
        add = conv(flat, delta, None, stride, padding, dilation, copies).transpose(0, 1)
        out[every, :, owner] += add
        return out.view_as(y)
    return change
