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

Not separable: a layer sums `products` (one gather per multiplication, in chunks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import reference
from ..plugin import require
from .base import MULTIPLIERS, Multiplier, require_power

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
        object.__setattr__(self, "_table", load_table(self.file, self.signed))

    @property
    def table(self) -> torch.Tensor:
        return self._table

    def reference(self, a, b):
        return reference.table_mul(a, b, self.table.tolist(), self.signed)

    def products(self, a, b):
        return table_multiply(a, b, self.table, self.signed)

    def power(self):
        return float(self.relative_power)
