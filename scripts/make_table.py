"""Turn a product function f(a, b) into an 8-bit table multiplier file (`table` multiplier).

    python scripts/make_table.py my_module:my_product out.npy [--unsigned] [--bin]

f gets plain Python integers: signed tables (default) call f(a, b) for a, b in
[-128, 127] and store it at [a & 255][b & 255]; --unsigned tables call f(a, b) for a, b in
[0, 255]. Writes a (256, 256) int32 .npy, or with --bin the raw 65,536 little-endian
16-bit layout. `--builtin` regenerates the tables shipped in axtrain_cli/hardware/tables.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

from axtrain_cli.hardware import reference
from axtrain_cli.hardware.multipliers.table import SIZE, TABLES


def make(f, signed: bool) -> np.ndarray:
    table = np.zeros((SIZE, SIZE), dtype=np.int64)
    values = range(-128, 128) if signed else range(SIZE)
    for a in values:
        for b in values:
            table[a & 255, b & 255] = f(a, b)
    return table


def write(table: np.ndarray, out: Path, raw: bool, signed: bool) -> None:
    if raw:
        dtype = "<i2" if signed else "<u2"
        if table.min() < np.iinfo(dtype).min or table.max() > np.iinfo(dtype).max:
            raise SystemExit("make_table: products out of the 16-bit range for --bin")
        table.astype(dtype).tofile(out)
    else:
        np.save(out, table.astype(np.int32), allow_pickle=False)
    print(f"wrote {out}")


BUILTIN = {  # name: (f, signed)
    "exact_s8": (lambda a, b: a * b, True),
    **{f"drum{k}_u8": (lambda a, b, k=k: reference.drum_mul(a, b, k), False)
       for k in (3, 4, 5, 6)},
    "trunc4_u8": (lambda a, b: reference.trunc_t(a, 4) * reference.trunc_t(b, 4), False),
    # Mitchell's logarithmic multiplier on 8-bit words: a table that is not separable
    "mitchell_s8": (reference.mitchell_mul, True),
}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("function", nargs="?", help="module:function, e.g. my_mult:product")
    p.add_argument("out", nargs="?", type=Path)
    p.add_argument("--unsigned", action="store_true")
    p.add_argument("--bin", action="store_true", help="raw 16-bit layout instead of .npy")
    p.add_argument("--builtin", action="store_true", help="regenerate the shipped tables")
    a = p.parse_args(argv)
    if a.builtin:
        TABLES.mkdir(exist_ok=True)
        for name, (f, signed) in BUILTIN.items():  # 16 bits hold every 8 x 8-bit product
            table = make(f, signed).astype(np.int16 if signed else np.uint16)
            np.save(TABLES / f"{name}.npy", table, allow_pickle=False)
            print(f"wrote {TABLES / name}.npy")
        return
    if not a.function or not a.out:
        p.error("give module:function and an output file (or --builtin)")
    module, _, name = a.function.partition(":")
    sys.path.insert(0, ".")
    f = getattr(importlib.import_module(module), name)
    write(make(f, not a.unsigned), a.out, a.bin, not a.unsigned)


if __name__ == "__main__":
    main(sys.argv[1:])
