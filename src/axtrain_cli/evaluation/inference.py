"""The inference sweep: the trained network on each hardware knob; a knob with a stochastic
memory over `eval.trials` independent reads, evaluated in one batched pass."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .. import hardware as hw
from .. import knobs
from ..knobs import EXACT, Knob
from ..networks import HwPlan, Network, calibrate, make_plan
from ..networks.plan import saturated_weights
from ..results import Measurement
from ..training import loss_per_sample

log = logging.getLogger("axtrain")


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
def evaluate(net: Network, x: torch.Tensor, y: torch.Tensor, plan: HwPlan | None, loss: str,
             n_classes: int, *, reference: torch.Tensor | None = None,
             keep_outputs: bool = False, budget: int = 1 << 22) -> Metrics:
    """Test loss, accuracy (and deviation from `reference`) per trial.

    The test set runs in chunks sized so that the widest activation stays within
    `budget` floats (16 MB: below glibc's mmap threshold, so buffers are reused from the
    heap instead of being page-faulted in afresh for every chunk)."""
    net.eval()
    trials = (plan.trials if plan is not None else None) or 1
    chunk = max(1, budget // net.floats_per_sample(trials))
    loss_sum = torch.zeros(trials, dtype=torch.float64, device=x.device)
    correct = torch.zeros(trials, dtype=torch.float64, device=x.device)
    dev = torch.zeros(trials, dtype=torch.float64, device=x.device)
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


# Stored words the sweep reads at once (trials x the network's words): with the masks and
# float copies about 0.5 GB. More trials run in chunks of trials, so any eval.trials fits.
TRIAL_WORDS = 1 << 24


def sweep(net: Network, split, cfg, names: list[str], *, seed: int, progress=None,
          task=None) -> list[Measurement]:
    """Evaluate `net` on every knob of `names`: one Measurement per knob and trial
    (eval.trials reads for a knob with a stochastic memory, one otherwise).

    Reads are drawn from a generator seeded by (seed, knob), so a knob's draws do not
    depend on which other knobs were evaluated. The trials of a knob run together, in
    chunks of at most TRIAL_WORDS stored words (a fixed bound, so the draws do not depend
    on the machine). Each Measurement carries the network's own exact-hardware loss and
    accuracy. `progress` advances `task` (or a new one) once per knob."""
    bits, fmt = cfg.hardware.bits, cfg.hardware.weight_format
    ranges = calibrate(net, split.x_train, bits)
    x, y, n_classes = split.x_test, split.y_test, split.n_classes
    saturated = saturated_weights(net, bits, fmt) if fmt == "fraction" else 0
    if saturated:
        log.warning("%d weights lie outside the fraction weight format's range [-1, 1) and "
                    "saturate when stored (training with hardware.weight_format=fraction "
                    "keeps them inside)", saturated)
    exact = make_plan(net, EXACT, bits, ranges, weight_format=fmt)
    ref = evaluate(net, x, y, exact, cfg.train.loss, n_classes, keep_outputs=True)
    reference, on_exact = ref.outputs, (float(ref.loss[0]), float(ref.accuracy[0]))
    out = []
    if progress and task is None:
        task = progress.add_task("evaluate", total=len(names), every=True)
    for name in names:
        knob = knobs.resolve(name, cfg)
        gen = torch.Generator(x.device).manual_seed(_knob_seed(seed, knob.name))
        power = network_power(net, knob, cfg.hardware)
        done = []
        for first, trials in trial_chunks(cfg.eval.trials if knob.stochastic else None,
                                          sum(net.word_counts())):
            plan = make_plan(net, knob, bits, ranges, trials=trials, generator=gen,
                             store_biases=cfg.hardware.store_biases, first_trial=first,
                             weight_format=fmt)
            m = evaluate(net, x, y, plan, cfg.train.loss, n_classes, reference=reference)
            if getattr(progress, "estimate", None) is not None:
                progress.estimate.evaluated(len(x) * (trials or 1))
            done += [measurement(name, knob, power, first + t, float(m.loss[t]),
                                 float(m.accuracy[t]), float(m.deviation[t]), on_exact)
                     for t in range(len(m.loss))]
        out += done
        if progress:
            acc = sum(r.accuracy for r in done) / len(done)
            reads = f" (mean of {len(done)} reads)" if len(done) > 1 else ""
            progress.update(task, advance=1, description=f"{name} accuracy {acc:.4f}{reads}")
    return out


def trial_chunks(trials: int | None, words: int):
    """(first trial, trials) per chunk: one (0, None) for a deterministic knob."""
    if not trials:
        yield 0, None
        return
    step = max(1, TRIAL_WORDS // max(1, words))
    for s in range(0, trials, step):
        yield s, min(step, trials - s)


def measurement(name: str, knob: Knob, power: dict, trial: int, loss: float, accuracy: float,
                deviation: float | None, on_exact=(None, None), **figures) -> Measurement:
    """One result of `knob` (evaluated under the name `name`, e.g. a dataset level);
    on_exact: the same network's (loss, accuracy) on exact hardware."""
    mult = knob.multiplier
    return Measurement(knob=name, knob_name=knob.name, domain=knob.domain,
                       multiplier=knob.multiplier_label,
                       memory=knob.memory_label if mult is not None else "",
                       voltage_mv=knob.memory.supply_mv, trial=trial, loss=loss,
                       accuracy=accuracy, exact_loss=on_exact[0], exact_accuracy=on_exact[1],
                       deviation=deviation,
                       compute_power=power["compute"], storage_power=power["storage"],
                       figures=figures, parameters=knob.parameters())


def network_power(net: Network, knob: Knob, h) -> dict:
    """The network's compute and storage power relative to exact multipliers and 1.1 V
    SRAM, weighting each unit by its multiplications and stored words (from the
    topology), the products of two activations (attention) by theirs; biases not kept in
    the SRAM (`store_biases=false`) stay at nominal."""
    words, mults = net.word_counts(True), net.mult_counts()
    parts = knob.assign([u.name for u in net.units])
    reference = knobs.cost_reference(h)
    compute = [m.power_as(h.power_model, h.bits, reference) for m, _ in parts]
    sram = [mem.power(h.nominal_mv) for _, mem in parts]
    for i, entries in enumerate(knob.neuron_parts(net.units) if any(
            e.neurons for e in knob.layers) else []):
        if not entries:
            continue
        c = [compute[i]] * net.units[i].outputs  # per neuron (an equal share of the layer's
        r = [sram[i]] * net.units[i].outputs  # products and words), the first entry winning
        for e in reversed(entries):
            for j in e.neurons:
                if e.multiplier is not None:
                    c[j] = e.multiplier.power_as(h.power_model, h.bits, reference)
                if e.memory is not None:
                    r[j] = e.memory.power(h.nominal_mv)
        compute[i], sram[i] = sum(c) / len(c), sum(r) / len(r)
    per_layer = [(n * r + (a - n)) / a
                 for n, a, r in zip(net.word_counts(h.store_biases), words, sram)]
    if net.pairs:  # on the knob's own multiplier; nothing stored
        words, mults, per_layer = words + [0], mults + [net.pair_mults()], per_layer + [1.0]
        compute = compute + [knob.compute_power(h.bits, h.power_model, reference)]
    return hw.network_power(mults, words, compute, per_layer)


def _knob_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(name))) % (2**62)
