"""Memory models (how stored weight and bias words come back): the interface and registry
(`base`), and one module per model.

reliable  every word as written (nominal voltage)
flips     near-threshold SRAM: every bit flips independently at each read
"""

from .base import MEMORIES, RELIABLE, Memory, Reliable, sram_power
from .flips import Flips, flip_bits

__all__ = ["Flips", "MEMORIES", "Memory", "RELIABLE", "Reliable", "flip_bits", "sram_power"]
