"""The report (`axtrain report`): the paper's figure tables, claims and plots from run dirs.

load      every results.csv under the inputs in one frame
tables    fig4 (sensitivity maps), fig6 (multiplier error), fig7 (NTV accuracy), runs_summary
power     fig8 (ApproxANN's approximate multipliers), fig9 (lowest power within a loss)
claims    the paper's headline numbers (paper_claims.yaml) next to ours
plots     PNG figures
build     build_report(): the tables, claims and plots of a report, as one set
"""

from .build import build_report
from .common import FIG, LEVELS, Missing
from .tables import SUMMARY_KEYS

__all__ = ["FIG", "LEVELS", "Missing", "SUMMARY_KEYS", "build_report"]
