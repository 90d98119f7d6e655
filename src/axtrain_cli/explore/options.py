"""`axtrain explore`'s settings, typed and checked before any work (one line each)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import ConfigError

SOURCES = ("uniform", "greedy", "search")


@dataclass
class ExploreOptions:
    out: str = "explore"  # the output dir
    library: str | None = None  # knobs of the set to use (comma-separated); None: all
    validation: int = 2000  # training samples held out to judge candidates (seeded)
    budgets: str = "1,2"  # accuracy losses (points) to choose a point for
    search: bool = True  # false: the uniform knobs and the greedy baseline only
    trials: int | None = 200  # the study's finished trials to reach (None: minutes only)
    minutes: float | None = None  # stop this worker after this many minutes
    population: int = 24  # NSGA-II's population size
    seed: int = 0  # the validation sample and the sampler
    worker: int = 0  # added to the sampler's seed: one per process sharing a study
    storage: str | None = None  # Optuna storage URL (None: sqlite:///OUT/study.db)
    study: str | None = None  # the study's name (None: from the network and library)
    retrain_epochs: int = 0  # pas retraining of each chosen point (0: none)
    retrain_lr: float | None = None  # None: the run's train.lr
    gradient: str = "ste"  # the retraining's backward (docs/gradients.md)
    gradient_window: int = 4
    cache_mb: int = 1024  # layer outputs kept across candidates (0: none)

    @property
    def budget_points(self) -> list[float]:
        return [float(b) for b in str(self.budgets).split(",") if b.strip()]


def parse(pairs: dict[str, str]) -> ExploreOptions:
    """ExploreOptions from key=value texts; ConfigError (one line) for a bad one."""
    kinds = {f.name: f.type for f in fields(ExploreOptions)}
    values = {}
    for key, text in pairs.items():
        kind = str(kinds[key])
        try:
            if text in ("null", "None") and "None" in kind:
                values[key] = None
            elif kind.startswith("bool"):
                if text.lower() not in ("true", "false"):
                    raise ValueError
                values[key] = text.lower() == "true"
            elif kind.startswith("int"):
                values[key] = int(text)
            elif kind.startswith("float"):
                values[key] = float(text)
            else:
                values[key] = text
        except ValueError:
            raise ConfigError(f"{key}={text!r} is not a {kind.split(' ')[0]}") from None
    o = ExploreOptions(**values)
    check(o)
    return o


def check(o: ExploreOptions) -> None:
    from ..hardware import GRADIENTS

    def need(ok: bool, key: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(f"{key}={getattr(o, key)!r} is out of range: allowed {allowed}")

    need(o.validation >= 10, "validation", "at least 10 training samples")
    try:
        budgets = o.budget_points
    except ValueError:
        budgets = []
    need(bool(budgets) and all(0 < b < 100 for b in budgets), "budgets",
         "accuracy losses in points, each above 0 and below 100, e.g. 1,2")
    need(o.trials is None or o.trials >= 1, "trials", "an integer >= 1, or null with minutes")
    need(o.minutes is None or o.minutes > 0, "minutes", "a positive number of minutes")
    need(not o.search or o.trials is not None or o.minutes is not None, "trials",
         "a number of trials or minutes= to stop the search")
    need(o.population >= 2, "population", "an integer >= 2")
    need(o.worker >= 0, "worker", "an integer >= 0")
    need(o.retrain_epochs >= 0, "retrain_epochs", "an integer >= 0")
    need(o.retrain_lr is None or o.retrain_lr > 0, "retrain_lr", "a positive rate or null")
    need(o.gradient in GRADIENTS, "gradient", ", ".join(GRADIENTS))
    need(1 <= o.gradient_window <= 127, "gradient_window", "1..127 (1/256 of the range)")
    need(o.cache_mb >= 0, "cache_mb", "an integer >= 0 (0: no cache)")
    need(bool(o.out), "out", "a folder")
