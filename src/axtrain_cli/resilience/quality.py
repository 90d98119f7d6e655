"""How well each predictor ranks the neurons: rank correlations with the measured increase
(with bootstrap 95 % intervals over neurons), and protect-top-k curves (the top k % of
neurons by the predictor kept exact, or their weights reliable, the rest faulty: validation
accuracy against k, and the area under that curve)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from ..hardware import Flips
from ..knobs import EXACT, Knob
from ..methods.approxann import mixed_plan
from ..networks import make_plan

KS = tuple(range(0, 101, 10))  # percent of neurons protected


def correlations(score: np.ndarray, measured: np.ndarray, seed: int,
                 resamples: int = 1000) -> dict:
    """Spearman's and Kendall's correlation of `score` with `measured`, each with its 95 %
    percentile bootstrap interval (neurons resampled with replacement)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, f in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        value = float(f(score, measured)[0])
        boot = []
        for _ in range(resamples):
            idx = rng.integers(0, len(score), len(score))
            if np.ptp(score[idx]) > 0 and np.ptp(measured[idx]) > 0:
                boot.append(float(f(score[idx], measured[idx])[0]))
        lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = value, float(lo), float(hi)
    return out


def protected_masks(scores: list[torch.Tensor], k: float) -> list[torch.Tensor]:
    """Per unit, True for the neurons in the top k % of all neurons by score (ties: the
    earlier neuron first)."""
    flat = torch.cat([s.flatten().float() for s in scores])
    top = torch.argsort(-flat, stable=True)[:round(len(flat) * k / 100)]
    mask = torch.zeros(len(flat), dtype=torch.bool)
    mask[top] = True
    return list(mask.split([len(s) for s in scores]))


@torch.no_grad()
def curve_multiplier(net, x, y, knob: Knob, bits: int, ranges, scores, fmt: str) -> list[float]:
    """Validation accuracy with the top k % protected (exact), the rest on knob's multiplier."""
    out = []
    for k in KS:
        approx = [~m for m in protected_masks(scores, k)]
        out.append(_accuracy(net, x, y, mixed_plan(net, knob, bits, ranges, approx, fmt=fmt)))
    return out


@torch.no_grad()
def curve_flips(net, x, y, bits: int, ranges, scores, rate: float, reads: int,
                generator_seed: int, fmt: str) -> list[float]:
    """Validation accuracy (mean over `reads` reads) with the top k % of neurons' weights
    reliable, every other weight read with flips at `rate`."""
    exact = make_plan(net, EXACT, bits, ranges, weight_format=fmt)
    knob = Knob("flips", EXACT.multiplier, Flips(voltage_mv=0.0, rate=rate))
    out = []
    for k in KS:
        keep = protected_masks(scores, k)
        gen = torch.Generator().manual_seed(generator_seed)  # the same reads for every k
        plan = make_plan(net, knob, bits, ranges, trials=reads, generator=gen,
                         store_biases=False, weight_format=fmt)
        for i, m in enumerate(keep):
            view = m.view(-1, *([1] * (exact.weights[i].dim() - 1)))
            plan.weights[i] = torch.where(view, exact.weights[i], plan.weights[i])
        out.append(_accuracy(net, x, y, plan))
    return out


def _accuracy(net, x, y, plan, batch: int = 1000) -> float:
    correct, n = 0.0, 0
    for s in range(0, len(x), batch):
        z = net.logits(x[s:s + batch], plan)
        correct += float((z.argmax(-1) == y[s:s + batch]).float().sum()) / (
            z.shape[0] if z.dim() == 3 else 1)
        n += len(x[s:s + batch])
    return correct / n


def area(curve: list[float]) -> float:
    """The area under accuracy against the protected fraction (0..1), trapezoids."""
    return float(np.trapezoid(curve, np.array(KS) / 100))
