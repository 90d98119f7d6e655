"""A multirun's jobs (the basic sweeper's cartesian product), checked all before any is
launched; overrides the shell split at their braces."""

from __future__ import annotations

from .checks import check_job
from .messages import ARGS, fail, one_line


def sweep_jobs(overrides: list[str]) -> tuple[list[list[str]], set[str]] | None:
    """The overrides of every job a multirun of `overrides` launches (the basic sweeper's
    cartesian product) and the swept keys, or None for another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if any(o.lstrip("+~").startswith("hydra/sweeper=") for o in overrides):
        return None
    ARGS[:] = overrides
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        fail(one_line(e))
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch], swept


def mixed_method_settings(jobs: list[list[str]]) -> str | None:
    """For a sweep over methods with a `method.KEY=...` that some of them do not have
    (`-m method=bp,axtrain method.finetune_epochs=2`): one line saying how to run it (one
    multirun per method, into one sweep dir, which `axtrain report` reads as one); None
    otherwise."""
    import dataclasses

    from ..settings import METHODS as SETTINGS

    def method(job):
        return next((o.split("=", 1)[1] for o in job if o.startswith("method=")), "bp")

    fields = {m: {f.name for f in dataclasses.fields(s)} for m, (s, _) in SETTINGS.items()}
    swept = sorted({method(j) for j in jobs} & set(fields))
    for o in jobs[0] if len(swept) > 1 else []:
        key = o.lstrip("+~").split("=", 1)[0]
        if not key.startswith("method."):
            continue
        name = key.split(".")[1]
        having = [m for m in swept if name in fields[m]]
        if having and len(having) < len(swept):
            others = [m for m in swept if m not in having]
            return (f"{o} applies to method={','.join(having)}, not to method="
                    f"{','.join(others)}: sweep them apart into one sweep dir (axtrain report "
                    f"reads it as one): `axtrain train -m method={','.join(others)} ... "
                    f"hydra.sweep.dir=DIR`, then `axtrain train -m method={','.join(having)} "
                    f"{o} ... hydra.sweep.dir=DIR`")
    return None


def check_sweep(overrides: list[str], jobs=None) -> None:
    """Validate every job of a multirun before any is launched (exit 2, one line); `jobs`:
    sweep_jobs(overrides) if already known."""
    jobs, keys = jobs or sweep_jobs(overrides) or ([overrides], set())
    mixed = mixed_method_settings(jobs)
    if mixed:
        fail(mixed)
    for i, job in enumerate(jobs):
        swept = " ".join(o for o in job if o.split("=", 1)[0] in keys)
        check_job(job, f"job #{i} of {len(jobs)} ({swept}), no job started: "
                  if len(jobs) > 1 else "", num=i)


def split_by_shell(overrides: list[str]) -> str | None:
    """The one-line error for overrides the shell's brace expansion made of one unquoted
    value (`+knobs.x={memory:{name:flips,rate:0.05}}` arrives as `+knobs.x={memory:name:
    flips}` and `+knobs.x={memory:rate:0.05}`): the same key given more than once with
    mapping-like values, with the value it was most likely meant to be, quoted; None
    otherwise (a key given twice with plain values is Hydra's: the last one counts)."""
    import os.path

    seen: dict[str, list[str]] = {}
    for o in overrides:
        if "=" in o:
            seen.setdefault(o.split("=", 1)[0], []).append(o)
    for key, words in seen.items():
        if len(words) > 1 and all(w.split("=", 1)[1].startswith("{") for w in words):
            head = os.path.commonprefix(words)
            tail = os.path.commonprefix([w[len(head):][::-1] for w in words])[::-1]
            middle = ",".join(w[len(head):len(w) - len(tail)] for w in words)
            return (f"{key} is given {len(words)} times ({' '.join(words)}): the shell split "
                    f"one value at its braces; quote it: '{head}{{{middle}}}{tail}'")
    return None
