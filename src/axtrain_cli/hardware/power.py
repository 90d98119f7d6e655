"""A network's power relative to the exact, nominal-voltage network (the paper used
Synopsys DC/PrimeTime and CACTI-P; the per-model figures are documented proxies)."""

from __future__ import annotations


def _weighted(counts: list[int], rel: float | list[float], what: str) -> float:
    rels = [float(rel)] * len(counts) if isinstance(rel, (int, float)) else list(rel)
    if len(rels) != len(counts):
        raise ValueError(f"{what}: {len(rels)} relative powers for {len(counts)} layers")
    if not counts or sum(counts) <= 0 or min(counts) < 0:
        raise ValueError(f"{what}: counts {counts!r} must be >= 0 with a positive sum")
    return sum(c * r for c, r in zip(counts, rels)) / sum(counts)


def network_power(mults_per_layer: list[int], words_per_layer: list[int],
                  mult_rel: float | list[float], sram_rel: float | list[float]) -> dict:
    """Network power relative to the exact, nominal-voltage network.

    compute = sum_l mults_l * mult_rel_l / sum_l mults_l (multipliers);
    storage = the same weighting of sram_rel by the words stored per layer (SRAM).
    mult_rel and sram_rel are one value for all layers or one per layer.
    """
    return {"compute": _weighted(mults_per_layer, mult_rel, "mult_rel"),
            "storage": _weighted(words_per_layer, sram_rel, "sram_rel")}
