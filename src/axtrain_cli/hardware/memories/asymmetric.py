"""SRAM with asymmetric flips: at every read a stored 0 reads 1 with probability
`rate_01` and a stored 1 reads 0 with probability `rate_10`, independently per cell
(near-threshold cells usually fail one way more often than the other)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import reference
from ..plugin import is_number, require
from .base import MEMORIES, Memory
from .flips import _flip_masks, xor_words


@MEMORIES.register
@dataclass(frozen=True)
class Asymmetric(Memory):
    """SRAM at `voltage_mv`: 0 -> 1 with probability rate_01, 1 -> 0 with rate_10, per read."""

    name = "asymmetric"
    voltage_mv: float
    rate_01: float
    rate_10: float

    def check(self, bits):
        self.check_voltage()
        for key in ("rate_01", "rate_10"):
            value = getattr(self, key)
            require(key, value, is_number(value) and 0 <= value <= 1, "a probability in [0, 1]")

    def read(self, words, bits, trials, generator):
        words = self.copies(words, trials).contiguous()
        n, pattern = words.numel(), words & ((1 << bits) - 1)
        up = _flip_masks(n, float(self.rate_01), bits, generator).view(words.shape)
        down = _flip_masks(n, float(self.rate_10), bits, generator).view(words.shape)
        up, down = up.to(words.device), down.to(words.device)
        return xor_words(words, (up & ~pattern) | (down & pattern), bits)

    def reference(self, word, bits, uniforms):
        pattern = word % (1 << bits)
        mask = 0
        for i, u in enumerate(uniforms[:bits]):
            rate = self.rate_10 if (pattern >> i) & 1 else self.rate_01
            if u < rate:
                mask |= 1 << i
        return reference.flip(word, mask, bits)
