"""Networks as axtrain runs them: the user's own nn.Module, called through its own forward,
its products on the hardware models (`runtime`), with what runs there stated (`Network.
coverage`); the paper's networks and others as zoo members (`zoo`).

network   Network: the model, its units and pairs, coverage, logits on a plan
analysis  what one recorded forward teaches: units, pairs, BatchNorms to fold, coverage
runtime   Run: the torch function mode that puts a forward's products on the hardware
attention scaled dot-product and multi-head attention with their products on it
units     Unit, Pair, Coverage
plan      HwPlan (the network as the accelerator holds it for a knob), calibrate
build     a network from its topology (the paper's, a ModelSpec, your nn.Module)
onhw      on_hardware: your own model on a knob, for your own loops
zoo       MLP and LeNet-5 (the paper's), ResNet-20, VGG, MobileNet, ViT, KWS
"""

from ..errors import NetworkError
from .build import build_network, network_of, upgrade_state_dict, with_shape, zoo_factory
from .network import Network, read_logits
from .onhw import OnHardware, on_hardware
from .plan import HwPlan, Ranges, calibrate, make_plan
from .units import Coverage, Pair, Part, Unit

__all__ = ["Coverage", "HwPlan", "Network", "NetworkError", "OnHardware", "Pair", "Part",
           "Ranges", "Unit", "build_network", "calibrate", "make_plan", "network_of",
           "on_hardware", "read_logits", "upgrade_state_dict", "with_shape", "zoo_factory"]
