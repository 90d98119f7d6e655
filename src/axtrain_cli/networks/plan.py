"""The network as the accelerator holds it for one knob (`HwPlan`): every stored word read
through the knob's memory once, the weights prepared once for its multiplier, the
activation ranges measured on the training data (`calibrate`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import hardware as hw


@dataclass
class Ranges:
    """Fraction lengths of the activations: per unit (its input), per pair (both operands)."""

    units: list[int]
    pairs: list[tuple[int, int]]


@dataclass
class HwPlan:
    """weights: per unit, the stored weights as `multiplier.weights` prepares them (as the
    layer multiplies by them, (out, in, ...); an embedding's table and an einsum's weight
    as stored; shape (T, ...) when `trials` is set), weight_fl their fraction lengths;
    biases: their real values as read; ranges: the activations' fraction lengths (None:
    from each batch's largest magnitude)."""

    bits: int
    multiplier: hw.Multiplier
    weights: list[torch.Tensor]
    weight_fl: list[int]
    biases: list[torch.Tensor]
    ranges: Ranges | None = None
    trials: int | None = None
    ste_clip: float | None = 1.0
    gradient: hw.gradients.Rule | None = None  # training's backward rule (None: the STE)
    # per unit, where a knob assigns layers their own: the multiplier and the backward rule
    # (None: `multiplier` and `gradient` for every unit; products of two activations always)
    multipliers: list[hw.Multiplier] | None = None
    rules: list[hw.gradients.Rule | None] | None = None
    # per unit, a knob's entries for some of its neurons: [(bool per output, multiplier,
    # its weights)], applied over the unit's own output
    neurons: list[list[tuple]] | None = None

    def unit_multiplier(self, i: int) -> hw.Multiplier:
        return self.multiplier if self.multipliers is None else self.multipliers[i]

    def rule(self, i: int) -> hw.gradients.Rule | None:
        return self.gradient if self.rules is None else self.rules[i]

    def fl(self, i: int, x: torch.Tensor) -> int:
        if self.ranges is None:
            return _dynamic(x, self.bits)
        return self.ranges.units[i]

    def backward_mix(self, i: int, s: torch.Tensor, float_call, kind: str, rows=None):
        """The backward path of unit i: `s` (the gradient rule's) for every output."""
        return s

    def pair_fl(self, j: int, a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
        if self.ranges is None or j >= len(self.ranges.pairs):
            return _dynamic(a, self.bits), _dynamic(b, self.bits)
        return self.ranges.pairs[j]

    def layer(self, i: int, call: hw.LayerCall, x: torch.Tensor, rows=None) -> torch.Tensor:
        w, b = self.weights[i], self.biases[i]
        if rows is not None:  # the part of a packed weight (attention's in-projection)
            w, b = w[..., rows, :], b[..., rows]
        fl = self.fl(i, x)
        y = self.unit_multiplier(i).layer(x, fl, self.bits, w, self.weight_fl[i], b, call)
        for mask, mult, wn in (self.neurons[i] if self.neurons and rows is None else []):
            other = mult.layer(x, fl, self.bits, wn, self.weight_fl[i], b, call)
            y = torch.where(mask.view(-1, *[1] * (y.dim() - 2)) if call.kind == "conv"
                            else mask, other, y)
        return y

    def pair(self, j: int, a: torch.Tensor, b: torch.Tensor, einsum: str | None = None):
        fa, fb = self.pair_fl(j, a, b)
        return self.multiplier.matmul(a, fa, b, fb, self.bits, einsum)

    def einsum(self, i: int, x: torch.Tensor, equation: str, weight_first: bool,
               shared: bool = False) -> torch.Tensor:
        """An einsum of an activation and unit i's stored weight."""
        w, fl, fw, mult = self.weights[i], self.fl(i, x), self.weight_fl[i], self.unit_multiplier(i)

        def one(xs, ws):
            a, b, fa, fb = (ws, xs, fw, fl) if weight_first else (xs, ws, fl, fw)
            return mult.matmul(a, fa, b, fb, self.bits, equation,
                                          prepared=("a" if weight_first else "b"))

        if not self.trials:
            return one(x, w)
        xs = [x] * self.trials if shared else x.view(self.trials, -1, *x.shape[1:])
        return torch.cat([one(xs[t], w[t]) for t in range(self.trials)])


def _dynamic(x: torch.Tensor, bits: int) -> int:
    return hw.frac_length(float(x.detach().abs().max()), bits)


@torch.no_grad()
def calibrate(net, x: torch.Tensor, bits: int, kwargs: dict | None = None) -> Ranges:
    """Activation fraction lengths from the largest magnitudes seen on `x` (the training
    data), float forward in evaluation mode: per unit its input, per pair its operands
    (`kwargs`: keyword arguments of the model's forward, for the whole of x)."""
    units = [0.0] * len(net.units)
    pairs = [[0.0, 0.0] for _ in net.pairs]

    def observe(i, a, z):
        units[i] = max(units[i], float(a.abs().max()) if a.is_floating_point() else 0.0)

    def observe_pair(j, a, b):
        pairs[j][0] = max(pairs[j][0], float(a.abs().max()))
        pairs[j][1] = max(pairs[j][1], float(b.abs().max()))

    was = net.training
    net.eval()  # the network as inference runs it (a BatchNorm's running statistics)
    batch = net.calibration_batch
    try:
        for s in range(0, len(x), batch):
            net.logits(x[s:s + batch], observe=observe, observe_pair=observe_pair,
                       kwargs={k: v[s:s + batch] for k, v in (kwargs or {}).items()})
    finally:
        net.train(was)
    return Ranges([hw.frac_length(m, bits) for m in units],
                  [(hw.frac_length(a, bits), hw.frac_length(b, bits)) for a, b in pairs])


def weight_fl(w: torch.Tensor, bits: int, weight_format: str = "dynamic") -> int:
    """The weights' fraction length: `dynamic`, per layer from max|w| (FL = bits - 1 -
    ceil(log2 max|w|)); `fraction`, the paper's reading of section 3.2, a sign bit and
    bits - 1 fraction bits (FL = bits - 1, range [-1, 1)) in every layer."""
    if weight_format == "fraction":
        return bits - 1
    return hw.frac_length(float(w.detach().abs().max()), bits)


def layer_format(unit, weight_format: str) -> str:
    """The weight format of one unit: a unit with a folded BatchNorm stores the folded
    weights, whose range the folding sets, and an embedding's table is no weight of a
    product: both in the per-unit dynamic format."""
    return "dynamic" if unit.folded or unit.kind == "embedding" else weight_format


def weight_words(net, bits: int, weight_format: str = "dynamic"):
    """Per unit: (weight FL, weight words, bias FL, bias words) in two's complement, as
    stored (the parameter's own layout). Biases keep their own dynamic format."""
    out = []
    for u in net.units:
        w, b = u.stored_weight.detach(), u.stored_bias.detach()
        fw = weight_fl(w, bits, layer_format(u, weight_format))
        fb = hw.frac_length(float(b.abs().max()) if b.numel() else 0.0, bits)
        out.append((fw, hw.to_words(w, fw, bits), fb, hw.to_words(b, fb, bits)))
    return out


def saturated_weights(net, bits: int, weight_format: str = "dynamic") -> int:
    """How many weights lie outside their format's range (and saturate when stored)."""
    n = 0
    for u in net.units:
        w = u.stored_weight.detach()
        q = torch.round(w * 2.0 ** weight_fl(w, bits, layer_format(u, weight_format)))
        n += int(((q > 2 ** (bits - 1) - 1) | (q < -(2 ** (bits - 1)))).sum())
    return n


def clip_to_format(net, bits: int) -> int:
    """Clamp every unit's weights into the fraction format's range [-1, 1 - 2^-(bits-1)]
    in place; returns how many weights hit the bound."""
    hi = 1.0 - 2.0 ** -(bits - 1)
    hit = 0
    with torch.no_grad():
        for u in net.units:
            if layer_format(u, "fraction") == "dynamic":  # its stored weights are not these
                continue
            hit += int(((u.weight > hi) | (u.weight < -1.0)).sum())
            u.weight.clamp_(-1.0, hi)
    return hit


def make_plan(net, knob, bits: int, ranges: Ranges | None, *, trials: int | None = None,
              generator: torch.Generator | None = None, store_biases: bool = True,
              ste_clip: float | None = 1.0, first_trial: int = 0,
              weight_format: str = "dynamic", gradient: str = "ste",
              gradient_window: int = 4) -> HwPlan | None:
    """The network as the accelerator holds it for `knob` (None for the float network):
    every weight and bias word read through the knob's memory (`trials` reads at once when
    set, numbered from `first_trial`; biases from reliable storage unless `store_biases`),
    the weights prepared once for its multiplier. The words sit in the SRAM unit by unit,
    weights then biases, from address 0 (what models of persistent cell faults see)."""
    if knob.multiplier is None:
        return None
    parts = knob.assign([u.name for u in net.units])
    entries = knob.neuron_parts(net.units) if any(e.neurons for e in knob.layers) else None
    weights, weight_fl_, biases, address, per_neuron = [], [], [], 0, []
    for i, (u, (mult, memory), (fw, ww, fb, bw)) in enumerate(zip(
            net.units, parts, weight_words(net, bits, weight_format))):
        bias_memory = memory if store_biases else hw.RELIABLE
        read = memory.read_at(ww, bits, trials, generator, address=address,
                              first_trial=first_trial)
        alts = []
        for e in reversed(entries[i]) if entries else []:  # the first entry applied last
            mask = torch.zeros(u.outputs, dtype=torch.bool, device=ww.device)
            mask[list(e.neurons)] = True
            if e.memory is not None:  # these neurons' words read through their own memory
                own = e.memory.read_at(ww, bits, trials, generator, address=address,
                                       first_trial=first_trial)
                dim = (1 if u.transposed else 0) + (read.dim() - ww.dim())
                read = torch.where(mask.view(-1, *[1] * (read.dim() - dim - 1)), own, read)
            if e.multiplier is not None:
                alts.append((mask, e.multiplier, e.multiplier.weights(read, fw, bits)))
        alts = [(m, mu, wn.transpose(-1, -2) if u.transposed and u.kind == "fc" else wn)
                for m, mu, wn in alts]
        per_neuron.append(alts)
        if u.kind == "embedding":  # a table lookup: the values as read
            w = hw.from_words(read, fw)
        else:
            w = mult.weights(read, fw, bits)
            w = w.transpose(-1, -2) if u.transposed and u.kind == "fc" else w
        weights.append(w)
        weight_fl_.append(fw)
        address += ww.numel()
        if not u.has_bias:  # a layer without a bias stores none
            biases.append(hw.from_words(hw.RELIABLE.read(bw, bits, trials, None), fb) * 0)
            continue
        read = bias_memory.read_at(bw, bits, trials, generator, address=address,
                                   first_trial=first_trial)
        biases.append(hw.from_words(read, fb))
        address += bw.numel() if store_biases else 0
    mult = knob.multiplier
    rule = hw.gradient_rule(mult, gradient, bits, gradient_window)
    per_unit = [m for m, _ in parts] if knob.layers else None
    return HwPlan(bits=bits, multiplier=mult, weights=weights, weight_fl=weight_fl_,
                  biases=biases, ranges=ranges, trials=trials, ste_clip=ste_clip,
                  gradient=rule, multipliers=per_unit,
                  neurons=per_neuron if any(per_neuron) else None,
                  rules=None if per_unit is None else
                  [hw.gradient_rule(m, gradient, bits, gradient_window) for m in per_unit])
