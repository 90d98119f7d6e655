"""The inference sweep: the trained network on each hardware knob, NTV knobs over
`trials` independent flip draws evaluated in one batched pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import hardware as hw
from .models import HwPlan, Net, calibrate, weight_words
from .training import loss_per_sample


@dataclass(frozen=True)
class Knob:
    """One approximation setting. kind: float | exact | drum | ntv."""

    name: str
    kind: str
    k: int | None = None
    voltage_mv: float | None = None
    flip_rate: float | None = None

    def compute_power(self) -> float:
        """Multiplier power relative to an exact 16x16 multiplier."""
        return hw.drum_power(self.k) if self.kind == "drum" else 1.0

    def storage_power(self, nominal_mv: float) -> float:
        """SRAM power relative to nominal voltage."""
        return hw.sram_power(self.voltage_mv, nominal_mv) if self.kind == "ntv" else 1.0


def resolve_knob(name: str, cfg) -> Knob:
    """Knob by name: float, exact, K1.., ntv<mV>, or the dataset's aggressive/conservative."""
    h = cfg.hardware
    if name in ("float", "exact"):
        return Knob(name, name)
    if name in h.multipliers:
        return Knob(name, "drum", k=int(h.multipliers[name]))
    if name in ("aggressive", "conservative"):
        name = f"ntv{cfg.dataset.voltages[name]}"
    if name.startswith("ntv") and name[3:] in h.flip_rates:
        return Knob(name, "ntv", voltage_mv=float(name[3:]),
                    flip_rate=float(h.flip_rates[name[3:]]))
    raise ValueError(f"unknown knob {name!r}: allowed float, exact, "
                     f"{', '.join(h.multipliers)}, aggressive, conservative, "
                     f"{', '.join(f'ntv{v}' for v in h.flip_rates)}")


def knob_from_approx(a) -> Knob:
    """Knob from an `approx` group config."""
    return Knob(a.name, a.kind, k=a.k, voltage_mv=a.voltage_mv, flip_rate=a.flip_rate)


def make_plan(net: Net, knob: Knob, bits: int, act_fl: list[int | None], *,
              trials: int | None = None, generator: torch.Generator | None = None,
              store_biases: bool = True, ste_clip: float | None = 1.0) -> HwPlan | None:
    """The weights as the accelerator reads them for `knob` (None for plain float)."""
    if knob.kind == "float":
        return None
    weights, biases = [], []
    for fw, ww, fb, bw in weight_words(net, bits):
        if knob.kind == "ntv":
            weights.append(hw.from_words(_flip(ww, knob.flip_rate, bits, trials, generator), fw))
            bw = _flip(bw, knob.flip_rate, bits, trials, generator) if store_biases else (
                bw.expand(trials or 1, *bw.shape) if trials else bw)
            biases.append(hw.from_words(bw, fb))
        else:
            w = hw.from_words(ww, fw)
            weights.append(hw.fake_quant(w, fw, bits, knob.k) if knob.kind == "drum" else w)
            biases.append(hw.from_words(bw, fb))
    return HwPlan(bits=bits, weights=weights, biases=biases, act_fl=list(act_fl),
                  k=knob.k if knob.kind == "drum" else None,
                  trials=trials if knob.kind == "ntv" else None, ste_clip=ste_clip)


def _flip(words, p, bits, trials, generator):
    if not trials:
        return hw.flip_bits(words, p, bits, generator)
    stack = words.expand(trials, *words.shape).contiguous()
    return hw.flip_bits(stack, p, bits, generator)


@dataclass
class Metrics:
    """Per-trial test metrics, shape (T,) (T = 1 without trials). deviation: mean over
    samples of 1/2 sum_k (O_k - O_k^ref)^2, the output error the hardware adds relative to
    `reference` outputs (the same network on exact fixed point); outputs: sigmoid outputs
    (N, K) of trial 0 when asked for."""

    loss: torch.Tensor
    accuracy: torch.Tensor
    deviation: torch.Tensor | None = None
    outputs: torch.Tensor | None = None


@torch.no_grad()
def evaluate(net: Net, x: torch.Tensor, y: torch.Tensor, plan: HwPlan | None, loss: str,
             n_classes: int, *, reference: torch.Tensor | None = None,
             keep_outputs: bool = False, budget: int = 1 << 22) -> Metrics:
    """Test loss, accuracy (and deviation from `reference`) per trial.

    The test set runs in chunks sized so that the widest activation stays within
    `budget` floats (16 MB: below glibc's mmap threshold, so buffers are reused from the
    heap instead of being page-faulted in afresh for every chunk)."""
    net.eval()
    trials = (plan.trials if plan is not None else None) or 1
    tr = net.trace()  # floats per sample: the shared input, then every trial's activations
    width = max(tr[0]["inputs"], trials * max(max(t["inputs"], t["outputs"]) for t in tr[1:]),
                trials * tr[0]["outputs"]) if len(tr) > 1 else tr[0]["inputs"]
    chunk = max(1, budget // width)
    loss_sum = torch.zeros(trials, dtype=torch.float64)
    correct = torch.zeros(trials, dtype=torch.float64)
    dev = torch.zeros(trials, dtype=torch.float64)
    outputs = []
    for s in range(0, len(x), chunk):
        xb, yb = x[s:s + chunk], y[s:s + chunk]
        z = net.logits(xb, plan)
        if z.dim() == 2:
            z = z.unsqueeze(0)
        loss_sum += loss_per_sample(z, yb, loss, n_classes).sum(-1).double()
        correct += (z.argmax(-1) == yb).sum(-1).double()
        if reference is not None or keep_outputs:
            o = torch.sigmoid(z)
            if reference is not None:
                dev += 0.5 * (o - reference[s:s + chunk]).pow(2).sum((-1, -2)).double()
            if keep_outputs:
                outputs.append(o[0])
    n = len(x)
    return Metrics(loss_sum / n, correct / n, dev / n if reference is not None else None,
                   torch.cat(outputs) if keep_outputs else None)


def sweep(net: Net, split, cfg, knobs: list[str], *, seed: int, progress=None):
    """Evaluate `net` on every knob; returns a list of row dicts (one per knob and trial).

    NTV draws come from a generator seeded by (seed, knob), so a knob's draws do not depend
    on which other knobs were evaluated."""
    bits = cfg.hardware.bits
    act_fl = calibrate(net, split.x_train, bits)
    x, y, n_classes = split.x_test, split.y_test, split.n_classes
    exact = make_plan(net, Knob("exact", "exact"), bits, act_fl)
    reference = evaluate(net, x, y, exact, cfg.train.loss, n_classes, keep_outputs=True).outputs
    rows = []
    task = progress.add_task("evaluate", total=len(knobs)) if progress else None
    for name in knobs:
        knob = resolve_knob(name, cfg)
        trials = cfg.eval.trials if knob.kind == "ntv" else None
        gen = torch.Generator().manual_seed(_knob_seed(seed, knob.name))
        plan = make_plan(net, knob, bits, act_fl, trials=trials, generator=gen,
                         store_biases=cfg.hardware.store_biases)
        m = evaluate(net, x, y, plan, cfg.train.loss, n_classes, reference=reference)
        power = network_power(net, knob, cfg.hardware)
        for t in range(len(m.loss)):
            rows.append({"knob": name, "knob_name": knob.name, "knob_kind": knob.kind,
                         "k": knob.k, "voltage_mv": knob.voltage_mv,
                         "flip_rate": knob.flip_rate, "trial": t,
                         "loss": float(m.loss[t]), "accuracy": float(m.accuracy[t]),
                         "deviation": float(m.deviation[t]),
                         "compute_power": power["compute"],
                         "storage_power": power["storage"]})
        if progress:
            progress.advance(task)
    return rows


def network_power(net: Net, knob: Knob, h) -> dict:
    """The network's compute and storage power relative to exact multipliers and 1.1 V
    SRAM, weighting each layer by its multiplications and stored words (from the
    topology); biases not kept in the NTV SRAM (`store_biases=false`) stay at nominal."""
    words = net.word_counts(True)
    sram = knob.storage_power(h.nominal_mv)
    per_layer = [(n * sram + (a - n)) / a for n, a in zip(net.word_counts(h.store_biases), words)]
    return hw.network_power(net.mult_counts(), words, knob.compute_power(), per_layer)


def _knob_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(name))) % (2**62)
