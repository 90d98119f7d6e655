"""Multiplier models: the interface and registry (`base`), and one module per model.

exact       the exact multiplier (fixed-point quantisation only)
drum        DRUM-k (Hashemi et al., ICCAD 2015): k leading bits per operand, lowest forced 1
truncation  k leading bits per operand, the rest cleared (biased: rounds down)
mitchell    Mitchell's logarithmic multiplier (1962): underestimates, mean about -3.8 %
table       any 8 x 8-bit design from its 256 x 256 product table (.npy or raw .bin)
verilog     any design from its Verilog (synthesised; products from its netlist)
"""

from .base import MULTIPLIERS, Exact, Multiplier, SeparableMultiplier
from .drum import Drum, drum_multiply, drum_power, drum_transform
from .mitchell import Mitchell, mitchell_multiply
from .table import Table, load_table, table_multiply
from .truncation import Truncation, truncate_bits
from .verilog import Verilog

__all__ = ["Drum", "Exact", "MULTIPLIERS", "Mitchell", "Multiplier", "SeparableMultiplier",
           "Table", "Truncation", "Verilog", "drum_multiply", "drum_power", "drum_transform",
           "load_table", "mitchell_multiply", "table_multiply", "truncate_bits"]
