"""Which multiplier in which layer (`axtrain explore`): the design space of per-layer
assignments over a library of multipliers, its walks and their Pareto fronts.

space    Space: evaluate an assignment on validation data (layer outputs shared between
         candidates by assignment prefix), its power, its knob
search   the uniform knobs, the sensitivity-guided greedy baseline, NSGA-II (Optuna)
options  ExploreOptions and their checks
run      explore(): the whole exploration and its outputs
"""

from .options import ExploreOptions, parse
from .run import explore, library_of, prepare

__all__ = ["ExploreOptions", "explore", "library_of", "parse", "prepare"]
