"""Persistent SRAM faults per chip: a chip is one fault map, fixed for its lifetime.

Each bit cell of chip c at SRAM address a (word a, bit i: cell = a * bits + i) has a
uniform u = hash(chip_seed, c, cell) in [0, 1), a 32-bit counter-based hash (no state, so
the same chip reads the same at every read, in every layer order and on every device).
At supply `voltage_mv` with fault rate `rate` the cell is faulty iff u < rate, so the
faulty cells of a chip at a higher voltage (lower rate) are a subset of those at a lower
one: fault maps nest across voltages exactly. A faulty cell is stuck at 1 iff the low 16
bits of its hash, as a fraction, are below `stuck_one` (else stuck at 0), the same at every
voltage; with `fault: flip` it reads inverted instead.

Trials of the sweep are chips first_trial, first_trial + 1, ...; training (pas) reads one
chip per step: a fresh one drawn from the generator (`training: fresh`, the default) or
always chip `chip` (`training: one`, train for that chip)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import reference
from ..plugin import is_number, require
from .base import MEMORIES, Memory
from .flips import draw_device, xor_words

MASK32 = 0xFFFFFFFF
CHUNK_CELLS = 1 << 22  # bit cells hashed at once (a few 32 MB int64 temporaries)


def hash32(x: torch.Tensor) -> torch.Tensor:
    """The "lowbias32" integer hash of every element (int64 holding values < 2^32); exact
    in int64 (products stay below 2^59), the same as reference.hash32."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x45D9F3B) & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x45D9F3B) & MASK32
    return x ^ (x >> 16)


def cell_hashes(chip_seed: int, chips: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """hash(chip_seed, chip, cell) for every chip (rows) and cell (columns), int64."""
    base = hash32(hash32(torch.tensor(chip_seed & MASK32, dtype=torch.int64)) + chips[:, None])
    return hash32(base + cells[None, :])


@MEMORIES.register
@dataclass(frozen=True)
class Chips(Memory):
    """Persistent, voltage-nested faults per chip at `voltage_mv` (cells faulty with
    probability `rate`): stuck at 0/1 (`fault: stuck`) or inverted (`fault: flip`)."""

    name = "chips"
    voltage_mv: float
    rate: float
    fault: str = "stuck"  # stuck | flip
    stuck_one: float = 0.5  # share of stuck cells stuck at 1 (fault: stuck)
    chip_seed: int = 0  # which population of chips
    training: str = "fresh"  # pas: a fresh chip every step | one: always chip `chip`
    chip: int = 0

    def check(self, bits):
        self.check_voltage()
        require("rate", self.rate, is_number(self.rate) and 0 <= self.rate <= 1,
                "a probability in [0, 1]")
        require("fault", self.fault, self.fault in ("stuck", "flip"), "stuck, flip")
        require("stuck_one", self.stuck_one, is_number(self.stuck_one)
                and 0 <= self.stuck_one <= 1, "a fraction in [0, 1]")
        require("training", self.training, self.training in ("fresh", "one"), "fresh, one")
        for key in ("chip_seed", "chip"):
            value = getattr(self, key)
            require(key, value, isinstance(value, int) and not isinstance(value, bool)
                    and 0 <= value < 2**31, "an integer in [0, 2^31)")

    def read(self, words, bits, trials, generator):
        return self.read_at(words, bits, trials, generator)

    def read_at(self, words, bits, trials, generator, *, address=0, first_trial=0):
        device = words.device
        if trials:
            chips = torch.arange(first_trial, first_trial + trials, device=device)
        elif self.training == "one":
            chips = torch.tensor([self.chip], device=device)
        else:  # a fresh chip for this read (a pas step)
            chips = torch.randint(0, 2**31, (1,), generator=generator,
                                  device=draw_device(generator)).to(device)
        flat = words.reshape(-1)
        out = torch.empty(len(chips), flat.numel(), dtype=torch.int64, device=device)
        step = max(1, CHUNK_CELLS // bits)
        for c in range(len(chips)):  # in chunks of words: a few int64 temporaries each
            for s in range(0, flat.numel(), step):
                out[c, s:s + step] = self._chunk(flat[s:s + step], bits, chips[c:c + 1],
                                                 address + s)
        return out.view(len(chips), *words.shape) if trials else out.view(words.shape)

    def _chunk(self, words, bits, chip, address):
        device, n = words.device, words.numel()
        cells = address * bits + torch.arange(n * bits, device=device)
        h = cell_hashes(self.chip_seed, chip, cells)[0].view(n, bits)
        faulty = h < int(self.rate * 2**32)  # u = h / 2^32 < rate
        place = 1 << torch.arange(bits, device=device)
        if self.fault == "flip":
            masks = (faulty * place).sum(-1)
        else:  # the cells whose stuck value differs from the stored bit
            one = (h & 0xFFFF) < int(self.stuck_one * 2**16)
            stored_one = (words[:, None] & place) != 0
            masks = ((faulty & (one != stored_one)) * place).sum(-1)
        return xor_words(words, masks, bits)

    def reference(self, word, bits, uniforms):
        """One word read from cells with uniforms u (as hash / 2^32 gives them)."""
        pattern = word % (1 << bits)
        mask = 0
        for i, u in enumerate(uniforms[:bits]):
            if u < self.rate:
                if self.fault == "flip":
                    mask |= 1 << i
                else:
                    one = (u * 2**32) % 2**16 < self.stuck_one * 2**16
                    if one != bool((pattern >> i) & 1):
                        mask |= 1 << i
        return reference.flip(word, mask, bits)
