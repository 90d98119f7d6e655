"""Training: the loop every method shares (seeded mini-batches, the paper's output error,
the optimiser, a per-epoch history) and its resumable state.

    loop     fit, the steps (bp_step), loss_per_sample, make_optimizer
    resume   TrainingState: a run's training continues where an interrupted one stopped
"""

from .loop import Step, bp_step, fit, loss_per_sample, make_optimizer
from .resume import FILE, Interrupted, TrainingState

__all__ = ["FILE", "Interrupted", "Step", "TrainingState", "bp_step", "fit", "loss_per_sample",
           "make_optimizer"]
