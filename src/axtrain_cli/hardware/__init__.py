"""Numerical hardware models of the AxTrain accelerator, as plug-ins.

fixed_point  dynamic fixed-point words
multipliers  how a layer multiplies fixed-point operands, and its power (exact, DRUM-k,
             truncation, Mitchell, 8-bit tables, Verilog designs)
circuits     the multipliers as combinational Verilog
synth        open synthesis (Yosys + ABC) and the area and switching of a netlist
memories     how stored words come back when read, and the SRAM's power (reliable, flips)
kernels      the fused quantise(+DRUM) operand kernel of the fast layer path
layer        one Linear/Conv2d layer on the accelerator (GEMM path and general path)
plugin       what every model shares: parameters as a dataclass, the registries
ste          the straight-through estimator for training through any of them
power        a network's power from its layers' multiplier and SRAM figures
reference    the slow plain-integer reference the tests hold all of it to

Importing this package registers the built-in models.
"""

from ..errors import SynthesisError
from . import gradients
from .fixed_point import check_format, frac_length, from_words, quantize, to_words
from .gradients import GRADIENTS, gradient_rule
from .kernels import fake_quant, set_fused
from .layer import LayerCall
from .memories import MEMORIES, RELIABLE, Flips, Memory, Reliable, flip_bits, sram_power
from .multipliers import (
                          MULTIPLIERS,
                          Drum,
                          Exact,
                          Mitchell,
                          Multiplier,
                          SeparableMultiplier,
                          Table,
                          Truncation,
                          drum_multiply,
                          drum_power,
                          drum_transform,
)
from .plugin import require
from .power import network_power
from .ste import straight_through

__all__ = ["Drum", "Exact", "Flips", "GRADIENTS", "LayerCall", "MEMORIES", "MULTIPLIERS", "Memory",
           "Mitchell", "Multiplier", "RELIABLE", "Reliable", "SeparableMultiplier",
           "SynthesisError", "Table", "Truncation", "check_format",
           "drum_multiply", "drum_power", "drum_transform", "fake_quant", "flip_bits",
           "frac_length", "from_words", "gradient_rule", "gradients", "network_power",
           "quantize", "require", "set_fused", "sram_power", "straight_through", "to_words"]
