"""Any 8-bit multiplier given as a 256 x 256 table of products (EvoApprox-style designs,
TFApprox/TorchApprox tables), used with 8-bit fixed point (hardware.bits=8).

Files accepted (`file`):
- `.npy`: a (256, 256) array of integers (any integer dtype; loaded without pickle);
- `.bin`: raw, 65,536 little-endian 16-bit integers, row-major (entry [a][b] at byte
  offset 2 * (256 a + b)), int16 if `signed`, uint16 otherwise: the layout TFApprox reads
  and EvoApprox's tools write for 8 x 8 multipliers;
- the name of a table shipped in `axtrain_cli/hardware/tables/` (`exact_s8`, `drum4_u8`,
  `trunc4_u8`), made by `scripts/make_table.py` (which turns any `f(a, b)` into a table).

Indexing: `signed: true` looks up table[a & 255][b & 255], the operands' two's complement
patterns (row = activation word, column = weight word). `signed: false` (an unsigned
design) multiplies the magnitudes, table[|a|][|b|], and gives the product the sign
sign(a) XOR sign(b), as DRUM's sign-magnitude datapath does.

Fast path: a table whose products are f(a) * f(b) for some integer f of the word (checked
exactly over every pair of signed 8-bit words when the table is loaded: DRUM, truncation
and the exact multiplier given as tables are) runs as a separable multiplier, f of every
operand once and then an ordinary GEMM/conv. Any other table (an EvoApprox design, say)
takes the general path: a layer sums `products` by lookup rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .. import reference
from ..plugin import require
from .base import MULTIPLIERS, Multiplier, SeparableMultiplier, require_power

TABLES = Path(__file__).resolve().parent.parent / "tables"
SIZE = 256
_cache: dict[tuple, torch.Tensor] = {}


def shipped() -> list[str]:
    return sorted(p.stem for p in TABLES.glob("*.npy"))


def table_path(file: str) -> Path:
    """The table file `file` names: a path, or a shipped table's name."""
    path = Path(str(file)).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ValueError(f"file={file!r} is a folder: allowed a .npy or .bin table file, or a "
                         f"shipped table ({', '.join(shipped())})")
    for candidate in (TABLES / str(file), TABLES / f"{file}.npy"):
        if candidate.is_file() and candidate.parent == TABLES:
            return candidate
    raise ValueError(f"file={file!r}: no such table file: allowed a .npy or .bin file, or a "
                     f"shipped table ({', '.join(shipped())})")


def load_table(file: str, signed: bool) -> torch.Tensor:
    """The (256, 256) int64 product table of `file`, checked (one-line ValueError)."""
    path = table_path(file)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, signed)
    if key in _cache:
        return _cache[key]
    if path.suffix == ".bin":
        want = 2 * SIZE * SIZE
        if stat.st_size != want:
            raise ValueError(f"file={file!r} holds {stat.st_size} bytes: allowed a raw table "
                             f"of {want} bytes (65,536 little-endian 16-bit products)")
        array = np.fromfile(path, dtype="<i2" if signed else "<u2").reshape(SIZE, SIZE)
    elif path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as e:  # not an .npy, or an object array (pickle refused)
            raise ValueError(f"file={file!r} is not a numeric .npy array ({type(e).__name__}): "
                             "allowed a (256, 256) integer array") from None
        if array.shape != (SIZE, SIZE) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"file={file!r} holds a {array.dtype} array of shape "
                             f"{tuple(array.shape)}: allowed a (256, 256) integer array")
    else:
        raise ValueError(f"file={file!r} is neither .npy nor .bin: allowed a .npy or .bin "
                         f"table file, or a shipped table ({', '.join(shipped())})")
    if np.abs(array.astype(np.int64)).max() >= 2**31:
        raise ValueError(f"file={file!r} holds products of 2^31 or more: allowed 8 x 8-bit "
                         "products")
    table = torch.from_numpy(array.astype(np.int64))
    _cache[key] = table
    return table


def table_multiply(a: torch.Tensor, b: torch.Tensor, table: torch.Tensor,
                   signed: bool) -> torch.Tensor:
    """Elementwise table products of int64 tensors of 8-bit words (broadcasting), int64."""
    flat = table.to(a.device).reshape(-1)
    if signed:
        return flat[(a & 255) * SIZE + (b & 255)]
    magnitude = flat[a.abs() * SIZE + b.abs()]
    return torch.where((a < 0) != (b < 0), -magnitude, magnitude)


def separable_factor(table: torch.Tensor, signed: bool) -> torch.Tensor | None:
    """The integer f, indexed by word + 128, with table product(a, b) = f(a) * f(b) for
    every pair of signed 8-bit words a, b, or None where no such f exists. Exact: f is read
    off one column and checked against all 65,536 products (unique up to its sign; the
    sign taken is the one with f > 0 on the first positive word where f is not 0)."""
    words = torch.arange(-SIZE // 2, SIZE // 2)
    p = table_multiply(words[:, None], words[None, :], table, signed)
    diagonal = p.diagonal()
    if not bool(diagonal.any()):
        return torch.zeros(SIZE, dtype=torch.int64) if not bool(p.any()) else None
    i = int((diagonal != 0).nonzero()[0])
    root = math.isqrt(max(0, int(diagonal[i])))
    if root * root != int(diagonal[i]) or bool((p[:, i] % root).any()):
        return None
    f = p[:, i] // root
    if not torch.equal(f[:, None] * f[None, :], p):
        return None
    positive = f[SIZE // 2:]  # the sign that keeps f(1), or the first nonzero f(a > 0), > 0
    nonzero = positive.nonzero()
    return -f if len(nonzero) and int(positive[int(nonzero[0])]) < 0 else f


@MULTIPLIERS.register
@dataclass(frozen=True)
class Table(Multiplier):
    """An 8 x 8-bit multiplier given by its 256 x 256 table of products (file)."""

    name = "table"
    file: str
    signed: bool = True
    relative_power: float = 1.0  # set it from the design's data (EvoApprox publishes it)

    def check(self, bits):
        require("name", self.name, bits == 8, f"with 8-bit words only (256 x 256 products; "
                f"hardware.bits={bits} here): run with hardware=fixed8")
        require("signed", self.signed, isinstance(self.signed, bool), "true or false")
        require_power(self.relative_power)

    def __post_init__(self):  # loaded once (and checked: one-line ValueError)
        table = self.load()
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_factor",
                           None if table is None else separable_factor(table, self.signed))

    def load(self) -> torch.Tensor | None:
        """The (256, 256) int64 product table."""
        return load_table(self.file, self.signed)

    @property
    def table(self) -> torch.Tensor:
        return self._table

    @cached_property
    def rows(self) -> list[list[int]]:
        """The table as plain Python integers (for `reference`)."""
        return self.table.tolist()

    def reference(self, a, b):
        return reference.table_mul(a, b, self.rows, self.signed)

    def products(self, a, b):
        return table_multiply(a, b, self.table, self.signed)

    def power(self):
        return float(self.relative_power)

    @property
    def separable(self) -> bool:
        """Whether the products are f(a) * f(b) (then layers run f, then a GEMM/conv)."""
        return self._factor is not None

    def transform(self, q: torch.Tensor) -> torch.Tensor:
        """f of every element of an integer-valued tensor of 8-bit words (separable tables):
        one gather from f in q's dtype (int32 indices: about 2x faster than int64 ones)."""
        f = self._factor.to(device=q.device, dtype=q.dtype)  # 256 values
        index = (q + SIZE // 2).to(torch.int32).reshape(-1)
        return torch.index_select(f, 0, index).view(q.shape)

    operand = SeparableMultiplier.operand

    def weights(self, words, fl, bits):
        if self.separable:
            return SeparableMultiplier.weights(self, words, fl, bits)
        return super().weights(words, fl, bits)

    def layer(self, x, fl, bits, w, w_fl, b, call):
        if self.separable:
            return SeparableMultiplier.layer(self, x, fl, bits, w, w_fl, b, call)
        return super().layer(x, fl, bits, w, w_fl, b, call)

    def matmul(self, a, fl_a, b, fl_b, bits, einsum=None, prepared=""):
        if self.separable:
            return SeparableMultiplier.matmul(self, a, fl_a, b, fl_b, bits, einsum, prepared)
        return super().matmul(a, fl_a, b, fl_b, bits, einsum, prepared)
