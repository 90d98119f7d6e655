"""The paper's grid, as `axtrain reproduce` runs it: the six applications, the arms (each a
multirun's overrides; later arms start from the main arm's networks), the profiles and
their seeds, and the job dir names (Hydra's override_dirname less UNNAMED keys). The
claims it is judged by are the report's (report/paper_claims.yaml)."""

from __future__ import annotations

DATASETS = ["breast_cancer", "image_seg", "ionosphere", "satimage", "mnist_mlp", "mnist_cnn"]
# Launch order: the longest jobs first, so that parallel workers finish an arm together
# instead of one LeNet-5 job running alone at its end.
LONGEST_FIRST = ["mnist_cnn", "mnist_mlp", "satimage", "image_seg", "ionosphere", "breast_cancer"]
ARMS = {  # later arms start from the main arm's networks of the same dataset and seed
    "main": ["method=bp,act"],
    "axtrain": ["method=axtrain", "method.checkpoint={act}"],
    "pas": ["method=pas", "method.knob={pas_knob}", "eval.knobs=[exact,K1,K2,K3,K4]"],
    "approxann": ["method=approxann", "method.init=bp,act", "method.knob={approxann_knobs}",
                  "eval.knobs=[exact]", "method.checkpoint={init}"],
}
# Overrides left out of the job dir names: they do not change what a job computes (or,
# for eval.knobs and method.checkpoint, are fixed by the arm).
UNNAMED = ["resume", "experiment", "eval.knobs", "method.checkpoint", "threads", "progress"]
PROFILES = ("quick", "paper")
# Default seeds: the paper profile judges the claims over three (intervals across seeds);
# the quick profile (CI) runs one.
SEEDS = {"quick": "0", "paper": "0,1,2"}


def job_dirname(lines: list[str]) -> str:
    """A job's dir name as Hydra's `override_dirname` writes it: its task overrides as
    given, less UNNAMED keys, sorted, joined by commas."""
    def key(line: str) -> str:
        return line.split("=", 1)[0].lstrip("+~").split("@")[0]

    return ",".join(sorted(ln for ln in lines if key(ln) not in UNNAMED))
