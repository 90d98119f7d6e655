"""Error statistics of the built-in multipliers (the table in docs/hardware.md): relative
error of the product magnitude, (approximate - exact) / exact, for operands drawn uniformly.

    python scripts/multiplier_stats.py [--pairs 1000000]
    python scripts/multiplier_stats.py --cost     # error against synthesised cost

Rows: 16-bit words (magnitudes uniform in [1, 2^15 - 1], --pairs random pairs) and, for
8-bit designs, every pair of magnitudes in [1, 255] (unsigned tables) exhaustively.

--cost: the trade-off table instead, one row per 16-bit model (DRUM k = 2..8,
truncation k = 2..7, Mitchell): its error (as above), its proxy power and its synthesised
circuit's gates, transistors, area and switching relative to the exact 16-bit
multiplier (`axtrain_cli.hardware.synth`; needs the synth extra).
"""

from __future__ import annotations

import argparse

import torch

from axtrain_cli import hardware as hw


def stats(products, a: torch.Tensor, b: torch.Tensor) -> str:
    exact = (a * b).double()
    rel = (products(a, b).double() - exact) / exact * 100
    return (f"{float(rel.mean()):+7.2f} % | {float(rel.std()):6.2f} % | {float(rel.min()):+7.2f} % "
            f"| {float(rel.max()):+7.2f} %")


def label(m) -> str:
    """The model and its defining parameter (the power proxies are no part of its error)."""
    return f"{m.name}(k={m.k})" if hasattr(m, "k") else m.name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=1_000_000)
    p.add_argument("--cost", action="store_true", help="error against synthesised cost")
    args = p.parse_args()
    g = torch.Generator().manual_seed(0)
    a = torch.randint(1, 2**15, (args.pairs,), generator=g)
    b = torch.randint(1, 2**15, (args.pairs,), generator=g)
    if args.cost:
        return cost_table(a, b)
    print("| multiplier | operands | mean | std | worst low | worst high |")
    print("|---|---|---|---|---|---|")
    models = [*(hw.Drum(k) for k in range(2, 8)), *(hw.Truncation(k) for k in range(2, 8)),
              hw.Mitchell()]
    for m in models:
        print(f"| `{label(m)}` | 16-bit uniform | {stats(m.products, a, b)} |")
    mags = torch.arange(1, 256)
    x, y = mags.repeat_interleave(255), mags.repeat(255)
    print(f"| `{label(hw.Mitchell())}` | all 8-bit pairs | {stats(hw.Mitchell().products, x, y)} |")
    for name in ("drum3_u8", "drum4_u8", "trunc4_u8"):
        t = hw.Table(name, signed=False)
        print(f"| `table({name})` | all 8-bit pairs | {stats(t.products, x, y)} |")


def cost_table(a: torch.Tensor, b: torch.Tensor) -> None:
    from axtrain_cli.hardware import synth

    exact = (a * b).double()
    print("| multiplier | error mean | error std | proxy | gates | transistors | area "
          "| switching |")
    print("|---|---|---|---|---|---|---|---|")
    models = [hw.Exact(), *(hw.Drum(k) for k in range(2, 9)),
              *(hw.Truncation(k) for k in range(2, 8)), hw.Mitchell()]
    for m in models:
        rel = (m.products(a, b).double() - exact) / exact * 100
        c = synth.relative_cost(m.circuit(16), 16)
        print(f"| `{label(m)}` | {float(rel.mean()):+.2f} % | {float(rel.std()):.2f} % "
              f"| {m.power():.3f} | {c['gates']} | {c['transistors']} | {c['area']:.3f} "
              f"| {c['switching']:.3f} |")
    print(f"\n{c['tool']}; area: transistors, switching: fan-out-weighted toggles on "
          f"{synth.STREAM:,} uniform operand pairs, both relative to the exact signed 16-bit "
          "multiplier.")


if __name__ == "__main__":
    main()
