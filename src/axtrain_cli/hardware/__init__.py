"""Numerical hardware models of the AxTrain accelerator, as plug-ins.

- fixed point (`fixed_point`): 16-bit dynamic fixed point words;
- multipliers (`multiplier`: the interface and registry; `drum`: DRUM-k): how a layer
  multiplies fixed-point operands, and its power;
- memories (`memory`: the interface and registry; `flips`: near-threshold SRAM with
  independent bit flips): how stored words come back, and the SRAM's power;
- `ste`: the straight-through estimator for training through any of them;
- `reference`: the slow plain-integer reference the tests hold all of it to.

Importing this package registers the built-in models.
"""

from .drum import Drum, drum_multiply, drum_power, drum_transform
from .kernels import fake_quant, set_fused
from .fixed_point import check_format, frac_length, from_words, quantize, to_words
from .flips import Flips, flip_bits
from .layer import LayerCall
from .memory import MEMORIES, RELIABLE, Memory, Reliable, sram_power
from .multiplier import MULTIPLIERS, Exact, Multiplier, SeparableMultiplier
from .plugin import require
from .power import network_power
from .ste import straight_through

__all__ = ["Drum", "Exact", "Flips", "LayerCall", "MEMORIES", "MULTIPLIERS", "Memory",
           "Multiplier", "RELIABLE", "Reliable", "SeparableMultiplier", "check_format",
           "drum_multiply", "drum_power", "drum_transform", "fake_quant", "flip_bits",
           "frac_length", "from_words", "network_power", "quantize", "require", "set_fused",
           "sram_power", "straight_through", "to_words"]
