"""`axtrain train`: the checks, then the Hydra app; its task runs one job (`run.run`)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from .checks import check_existing, check_job
from .compose import config_dir, to_settings
from .messages import fail
from .sweeps import check_sweep, split_by_shell, sweep_jobs

log = logging.getLogger("axtrain")


def train(args: list[str]) -> bool:
    """`axtrain train`: checks, then Hydra; True when it was a single run."""
    from hydra._internal.utils import get_args_parser

    parsed = get_args_parser().parse_args(args)
    split = split_by_shell(parsed.overrides)
    if split:
        fail(split)
    inspecting = parsed.help or parsed.hydra_help or parsed.info or parsed.cfg or \
        parsed.shell_completion
    if not inspecting:
        if not parsed.multirun:
            check_job(parsed.overrides)
        else:
            jobs = sweep_jobs(parsed.overrides)
            if os.environ.get("AXTRAIN_SKIP_SWEEP_CHECK") != "1":  # reproduce checks before
                check_sweep(parsed.overrides, jobs)
            if jobs:  # the jobs' "job N of M" lines
                os.environ["AXTRAIN_SWEEP_JOBS"] = str(len(jobs[0]))
    sys.argv = ["axtrain train", *args]
    _hydra_train()
    return not (inspecting or parsed.multirun)


def _job_cores() -> tuple[int | None, list[int] | None]:
    """Under the joblib launcher: this job's share of the cores (threads, cpu set)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or "joblib" not in str(hc.launcher.get("_target_", "")):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    n_jobs = int(hc.launcher.get("n_jobs", -1))
    n_jobs = len(cores) if n_jobs <= 0 else min(n_jobs, len(cores))
    share = max(1, len(cores) // n_jobs)
    slot = int(hc.job.num) % n_jobs
    return share, cores[slot * share:(slot + 1) * share] or cores


def _task(cfg) -> None:
    import time

    import torch
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..errors import ConfigError, DataError
    from ..pipeline import run
    from ..results import differences_from
    from ..ui import duration

    hc = HydraConfig.get()
    threads, cpus = _job_cores()
    if cpus:
        os.sched_setaffinity(0, cpus)
    if threads and cfg.threads is None:
        torch.set_num_threads(threads)
    out_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    total = os.environ.get("AXTRAIN_SWEEP_JOBS")
    job = (f"job #{hc.job.num}{f' of {total}' if total else ''} "
           f"({hc.job.override_dirname or 'defaults'})" if multirun else "the run")
    start = time.perf_counter()
    try:
        settings = to_settings(cfg, hc.overrides.task)
        check_existing(out_dir, settings, multirun)  # checked before a sweep starts, and here
        if differences_from(out_dir, settings) is not None:
            if cfg.resume:
                log.info("%s: %s holds a complete run of this config, skipping", job, out_dir)
                return
            log.warning("%s: %s holds a complete run; this run replaces it when it has "
                        "finished (it stays as it is until then; resume=true would skip it)",
                        job, out_dir)
        if multirun and settings.progress == "auto":  # parallel jobs: log lines, not tangled bars
            settings.progress = "log"
        run(settings, out_dir, str(Path(hc.sweep.dir).resolve()) if multirun else None)
    except (ConfigError, DataError) as e:
        fail(str(e))
    except KeyboardInterrupt as e:
        from ..training import Interrupted

        if isinstance(e, Interrupted):  # what is saved, what is lost, how to continue
            where = (f"hydra.sweep.dir={hc.sweep.dir}" if multirun
                     else f"hydra.run.dir={out_dir}")
            raise KeyboardInterrupt(e.message(where)) from None
        raise
    except OSError as e:  # writing the outputs: the earlier run's set stays whole
        fail(f"cannot write the run's outputs in {out_dir}: {e.strerror or e}"
             f"{f' ({e.filename})' if e.filename else ''}; an earlier run there is kept", 1)
    except Exception:
        log.exception("%s failed", job)
        raise
    if multirun:
        log.info("%s finished in %s", job, duration(time.perf_counter() - start))


def _hydra_train() -> None:
    import hydra

    from .compose import register_configs

    register_configs()
    hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_task)()
