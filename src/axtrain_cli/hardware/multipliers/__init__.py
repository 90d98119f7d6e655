"""Multiplier models: the interface and registry (`base`), and one module per model.

exact  the exact multiplier (fixed-point quantisation only)
drum   DRUM-k (Hashemi et al., ICCAD 2015): k leading bits per operand
"""

from .base import MULTIPLIERS, Exact, Multiplier, SeparableMultiplier
from .drum import Drum, drum_multiply, drum_power, drum_transform

__all__ = ["Drum", "Exact", "MULTIPLIERS", "Multiplier", "SeparableMultiplier",
           "drum_multiply", "drum_power", "drum_transform"]
