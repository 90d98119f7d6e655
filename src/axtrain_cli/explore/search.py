"""The ways `axtrain explore` walks the space (explore.space), each giving evaluated
points: the uniform knobs (one multiplier everywhere), the greedy baseline guided by each
layer's measured sensitivity, and a multi-objective search with Optuna's NSGA-II sampler;
and the Pareto front of any set of points (highest accuracy, lowest power)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("axtrain")


@dataclass
class Point:
    """An evaluated assignment: validation accuracy and loss, compute power."""

    source: str  # uniform | greedy | search
    assignment: tuple
    accuracy: float
    loss: float
    power: float


def evaluate(space, source: str, a: tuple) -> Point:
    acc, loss = space.evaluate(a)
    return Point(source, tuple(a), acc, loss, space.power(a))


def uniform(space) -> list[Point]:
    """Every multiplier of the library in every layer."""
    return [evaluate(space, "uniform", space.uniform(j)) for j in range(len(space.library))]


def sensitivity(space) -> dict[tuple[int, int], tuple[float, float]]:
    """{(layer, multiplier): (loss increase, accuracy drop)} of each layer alone on each
    multiplier of the library, every other layer exact, on the validation data."""
    exact = space.uniform(space.exact)
    acc0, loss0 = space.evaluate(exact)
    out = {}
    for i in range(len(space.names)):
        for j in range(len(space.library)):
            if j == space.exact:
                out[i, j] = (0.0, 0.0)
                continue
            a = list(exact)
            a[i] = j
            acc, loss = space.evaluate(tuple(a))
            out[i, j] = (loss - loss0, acc0 - acc)
    return out


def greedy(space, sens: dict) -> list[Point]:
    """From all-exact, one layer at a time to a cheaper multiplier: at each step the move
    with the most power saved per loss increase that the layers' sensitivities predict
    (`sens`, summed over layers), each step's assignment measured; until every layer has
    the cheapest multiplier."""
    power = [e.power for e in space.library]
    a = list(space.uniform(space.exact))
    points = [evaluate(space, "greedy", tuple(a))]
    while True:
        best, best_score = None, None
        for i, j0 in enumerate(a):
            for j, p in enumerate(power):
                if p >= power[j0]:
                    continue
                saved = space.mults[i] * (power[j0] - p)
                cost = max(sens[i, j][0] - sens[i, j0][0], 0.0) + 1e-9
                score = saved / cost
                if best_score is None or score > best_score:
                    best, best_score = (i, j), score
        if best is None:
            return points
        a[best[0]] = best[1]
        points.append(evaluate(space, "greedy", tuple(a)))


def sources(points: list[Point]) -> list[str]:
    """The walks the points came from, in order."""
    return list(dict.fromkeys(p.source for p in points))


def front(points: list[Point]) -> list[Point]:
    """The points no other point beats on both accuracy and power (ties: the first)."""
    out, seen = [], set()
    for p in sorted(points, key=lambda p: (p.power, -p.accuracy)):
        if p.assignment in seen:
            continue
        seen.add(p.assignment)
        if not out or p.accuracy > out[-1].accuracy:
            out.append(p)
    return out


def storage(url: str, attempts: int = 8):
    """Optuna's storage for `url` (sqlite:///FILE waits for a busy database rather than
    failing, so that several workers can share one file). Workers that start together on a
    new database would race to create its tables: on a SQLite file they take turns under a
    lock on it; on a server the loser tries again once the tables exist."""
    import random

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    file = url.partition(":///")[2] if url.startswith("sqlite:///") else ""
    if file and file != ":memory:":
        import fcntl

        # workers on one file create its tables in turn, not in a race
        with open(file, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (OperationalError, IntegrityError) as e:
            # the race's two faces: a table another worker has just created, or the schema
            # version row it has just written
            racing = isinstance(e, IntegrityError) or "already exists" in str(e)
            if attempt == attempts - 1 or not racing:
                raise
            time.sleep(0.2 + random.random())


def search(space, *, study_name: str, url: str, trials: int | None, minutes: float | None,
           seed: int, population: int, warm: list[tuple], worker: int = 0) -> list[Point]:
    """NSGA-II over the assignments (one categorical choice per layer), maximising
    validation accuracy and minimising compute power, in the Optuna study `study_name` at
    `url` (created, or continued: a rerun resumes it and several processes can share it).
    Stops when the study holds `trials` finished trials or after `minutes`. A new study
    starts from the `warm` assignments. Returns every finished trial of the study."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    labels = [e.label for e in space.library]
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(study_name=study_name, storage=storage(url),
                                directions=["maximize", "minimize"], sampler=sampler,
                                load_if_exists=True)
    if not study.trials:
        for a in warm:
            study.enqueue_trial({n: labels[j] for n, j in zip(space.names, a)},
                                skip_if_exists=True)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    start, last = time.perf_counter(), [time.perf_counter()]

    def objective(trial):
        a = tuple(labels.index(trial.suggest_categorical(n, labels)) for n in space.names)
        acc, loss = space.evaluate(a)
        trial.set_user_attr("loss", loss)
        trial.set_user_attr("worker", worker)
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            log.info("search: trial %d, %.1f candidates a minute", trial.number,
                     60 * space.evaluations / max(space.seconds, 1e-9))
        return acc, space.power(a)

    if trials is None or done < trials:
        study.optimize(objective, timeout=None if minutes is None else 60 * minutes,
                       callbacks=[MaxTrialsCallback(trials, states=(TrialState.COMPLETE,))]
                       if trials is not None else None, gc_after_trial=False)
    log.info("search: the study %s holds %d finished trials (%.0f s here)", study_name,
             len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
             time.perf_counter() - start)
    return [Point("search", tuple(labels.index(t.params[n]) for n in space.names),
                  t.values[0], t.user_attrs.get("loss", float("nan")), t.values[1])
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
