"""The memory interface: how stored parameter words come back when read, and the SRAM's
power; the registry of memory models.

A model reads int64 words (two's complement, `bits` bits): `read(words, bits, trials,
generator)` returns them as read back, with a leading dimension of `trials` independent
reads (chips, draws) when trials is set, all random draws from `generator`. `reference`
is the same model for one word in plain Python integers, given one uniform draw in [0, 1)
per bit cell (least significant first); tests compare the statistics of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor

from ..plugin import HardwareModel, Registry, is_number, require


def sram_power(voltage_mv: float, nominal_mv: float = 1100.0) -> float:
    """SRAM power relative to the nominal supply: first-order dynamic power (V / Vnom)^2.

    E.g. 850 mV 0.597, 660 mV 0.360, 400 mV 0.132 (the paper used CACTI-P, 65 nm).
    """
    if not (voltage_mv > 0 and nominal_mv > 0):
        raise ValueError(f"voltages must be > 0 mV, got voltage_mv={voltage_mv!r}, "
                         f"nominal_mv={nominal_mv!r}")
    return (voltage_mv / nominal_mv) ** 2


class Memory(HardwareModel):
    """A memory model (a frozen dataclass of its parameters, usually with `voltage_mv`,
    the SRAM supply its power follows)."""

    nominal = False  # True only for reliable storage at the nominal voltage
    stochastic = True  # reads differ between trials (the sweep draws eval.trials of them)

    def read(self, words: Tensor, bits: int, trials: int | None, generator) -> Tensor:
        """The words as read back: words.shape, or (trials, *words.shape) when trials is set."""
        raise NotImplementedError

    @staticmethod
    def copies(words: Tensor, trials: int | None) -> Tensor:
        """words, or `trials` copies of them stacked in front (a view)."""
        return words.expand(trials, *words.shape) if trials else words

    def read_at(self, words: Tensor, bits: int, trials: int | None, generator, *,
                address: int = 0, first_trial: int = 0) -> Tensor:
        """`read` of words stored from word `address` of the SRAM on, the trials being chips
        first_trial, first_trial + 1, ...: for models whose faults belong to the cells of a
        chip (persistent faults). The default ignores both."""
        return self.read(words, bits, trials, generator)

    def reference(self, word: int, bits: int, uniforms: Sequence[float]) -> int:
        """One word as read back, in plain Python integers, given one uniform per bit cell."""
        raise NotImplementedError

    @property
    def supply_mv(self) -> float | None:
        """The SRAM supply voltage (the `voltage_mv` parameter; None: nominal)."""
        return getattr(self, "voltage_mv", None)

    def power(self, nominal_mv: float) -> float:
        """Power relative to the SRAM at nominal voltage: (V / Vnom)^2."""
        return 1.0 if self.supply_mv is None else sram_power(self.supply_mv, nominal_mv)

    def check_voltage(self) -> None:
        require("voltage_mv", self.voltage_mv, is_number(self.voltage_mv) and self.voltage_mv > 0,
                "a supply voltage > 0 mV")


MEMORIES = Registry("memory", Memory)


@MEMORIES.register
@dataclass(frozen=True)
class Reliable(Memory):
    """Storage that returns every word as written (nominal voltage unless voltage_mv is set)."""

    name = "reliable"
    stochastic = False
    voltage_mv: float | None = None

    @property
    def nominal(self) -> bool:
        return self.voltage_mv is None

    def check(self, bits):
        if self.voltage_mv is not None:
            self.check_voltage()

    def read(self, words, bits, trials, generator):
        return self.copies(words, trials)

    def reference(self, word, bits, uniforms):
        return word


RELIABLE = Reliable()
