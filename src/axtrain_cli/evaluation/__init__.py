"""Measuring a trained network: the inference sweep over the hardware knobs (each with
its reads of a stochastic memory), the sensitivity S(w) of the paper's Eq. 5, and the
multipliers' cost as circuits (`axtrain synth`).

    inference    sweep, evaluate, network_power
    sensitivity  network_sensitivity, sensitivity_map(s), per-sample |dO/dw| (Tape)
    cost         the synthesised multipliers' rows, their switching on a network's operands
"""

from .inference import Metrics, evaluate, network_power, sweep
from .sensitivity import network_sensitivity, sensitivity_map, sensitivity_maps

__all__ = ["Metrics", "evaluate", "network_power", "network_sensitivity", "sensitivity_map",
           "sensitivity_maps", "sweep"]
