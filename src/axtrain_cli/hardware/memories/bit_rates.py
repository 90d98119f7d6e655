"""SRAM with one flip rate per bit position (e.g. a measured per-bit profile): at every
read, bit i of every stored word flips independently with probability rates[i] (least
significant bit first)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import reference
from ..plugin import is_number, require
from .base import MEMORIES, Memory
from .flips import _flip_masks, draw_device, xor_words


@MEMORIES.register
@dataclass(frozen=True)
class BitRates(Memory):
    """SRAM at `voltage_mv` where bit i flips with probability rates[i] at each read."""

    name = "bit_rates"
    voltage_mv: float
    rates: tuple  # one probability per bit of the word, least significant first

    def __post_init__(self):  # a list from YAML: a hashable tuple
        object.__setattr__(self, "rates", tuple(self.rates))

    def check(self, bits):
        self.check_voltage()
        require("rates", list(self.rates), len(self.rates) == bits and all(
            is_number(r) and 0 <= r <= 1 for r in self.rates),
            f"a list of {bits} probabilities in [0, 1], least significant bit first "
            f"(one per bit of hardware.bits={bits})")

    def read(self, words, bits, trials, generator):
        words = self.copies(words, trials).contiguous()
        masks = torch.zeros(words.numel(), dtype=torch.int64, device=draw_device(generator))
        for i, rate in enumerate(self.rates):  # one plane per bit position
            if rate > 0:
                masks |= _flip_masks(words.numel(), float(rate), 1, generator) << i
        return xor_words(words, masks.view(words.shape).to(words.device), bits)

    def reference(self, word, bits, uniforms):
        mask = sum(1 << i for i, u in enumerate(uniforms[:bits]) if u < self.rates[i])
        return reference.flip(word, mask, bits)
