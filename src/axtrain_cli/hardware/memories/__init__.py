"""Memory models (how stored weight and bias words come back): the interface and registry
(`base`), and one module per model.

reliable    every word as written (nominal voltage)
flips       near-threshold SRAM: every bit flips independently at each read
bit_rates   one flip rate per bit position, at each read
asymmetric  separate 0 -> 1 and 1 -> 0 flip rates, at each read
chips       persistent faults per chip (stuck-at or flipped cells), nested across voltages
"""

from .asymmetric import Asymmetric
from .base import MEMORIES, RELIABLE, Memory, Reliable, sram_power
from .bit_rates import BitRates
from .chips import Chips
from .flips import Flips, flip_bits

__all__ = ["Asymmetric", "BitRates", "Chips", "Flips", "MEMORIES", "Memory", "RELIABLE",
           "Reliable", "flip_bits", "sram_power"]
