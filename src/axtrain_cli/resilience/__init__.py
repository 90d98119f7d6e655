"""Which neurons and layers are fragile (`axtrain resilience`): predictors of a neuron's
resilience, the measured ground truth by fault injection, and how well each ranks.

predictors  the scores: ApproxANN's criticality, AxNN's apportionment, AxTrain's S(w)
            share, LRP (epsilon, z+), activation magnitude, random
injection   one neuron faulty at a time (its products approximate, or its weights flipped),
            batched over neurons
quality     rank correlations with bootstrap intervals, protect-top-k curves
run         resilience(): the whole analysis and its outputs
"""

from .predictors import PREDICTORS, scores
from .run import FAULTS, ResilienceOptions, parse, resilience

__all__ = ["FAULTS", "PREDICTORS", "ResilienceOptions", "parse", "resilience", "scores"]
