"""A job's checks before any work: its config composes and types, its values are in
range, its output dir can be written and holds no complete run of another config, its
launcher can launch; then what needs the hardware models, a checkpoint or the data. A bad
value exits 2 with one line."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, DataError
from .compose import compose, to_settings
from .messages import ARGS, compose_error, fail


def writable_dir(path: str, key: str) -> None:
    """`path` is, or can be made, a writable folder (tried: what this makes is removed
    again); else ConfigError."""
    import tempfile

    target, first = Path(path or ".").absolute(), None
    try:
        first = next((p for p in [target, *target.parents] if p.exists()), None)
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as e:
        raise ConfigError(f"{key}={path!r} is not writable: allowed a folder axtrain can "
                          f"create and write ({e.strerror})") from None
    finally:
        for p in [target, *target.parents]:  # remove what was made for the test
            if first is None or p == first:
                break
            try:
                p.rmdir()
            except OSError:
                break


def check_job(overrides: list[str], where: str = "", num: int | None = None) -> None:
    """Compose one job's config and validate it; a bad value exits 2 with one line
    (prefixed with `where`). The plain values are checked before anything heavy (torch,
    scikit-learn) is imported, so a mistake costs a fraction of a second. `num`: the job's
    number in a multirun (its dir is the sweep dir's job `num`), None for a single run."""
    from omegaconf import OmegaConf

    from ..pipeline import validate
    from ..settings import check_settings

    ARGS[:] = overrides
    try:
        cfg = compose(overrides, hydra=True)
        for key in ("hydra.run.dir", "hydra.sweep.dir"):
            writable_dir(OmegaConf.select(cfg, key), key)
        out_dir = job_dir(cfg, num)
        if num == 0:  # a multirun: its launcher can launch here
            check_launcher(cfg)
        settings = to_settings(cfg, overrides)
        check_settings(settings)  # plain values first: nothing heavy is imported for a mistake
        check_existing(out_dir, settings, num is not None)
        validate(settings)
    except (ConfigError, DataError) as e:
        fail(f"{where}{e}")
    except Exception as e:  # unknown keys and options, types, bad override syntax
        fail(f"{where}{compose_error(e, overrides)}")


def check_launcher(cfg) -> None:
    """The multirun's launcher (hydra/launcher) is installed, and SLURM's submits where
    SLURM is: else a ConfigError naming the launcher and what it needs."""
    import importlib.util
    import shutil

    from omegaconf import OmegaConf

    target = str(OmegaConf.select(cfg, "hydra.launcher._target_") or "")
    name = OmegaConf.select(cfg, "hydra.runtime.choices").get("hydra/launcher", "basic")
    parts = target.split(".")
    if parts[0] == "hydra_plugins" and len(parts) > 2 and \
            importlib.util.find_spec(".".join(parts[:2])) is None:
        extra = {"hydra_submitit_launcher": "slurm", "hydra_joblib_launcher": "joblib"}
        how = f"pip install 'axtrain[{extra[parts[1]]}]'" if parts[1] in extra else "pip"
        raise ConfigError(f"hydra/launcher={name} needs the Hydra plugin {parts[1]}, which is "
                          f"not installed: allowed after {how}")
    if target.endswith("SlurmLauncher") and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ConfigError(f"hydra/launcher={name} submits the jobs with SLURM's sbatch and srun, "
                          "which are not on this machine's PATH: allowed on a SLURM cluster's "
                          "login node; here hydra/launcher=local_parallel (joblib) or "
                          "hydra/launcher=submitit_local")


def job_dir(cfg, num: int | None) -> Path:
    """The output dir of a composed job (with its `hydra` node): hydra.run.dir, or for job
    `num` of a multirun hydra.sweep.dir/hydra.sweep.subdir."""
    from omegaconf import OmegaConf, open_dict

    if num is None:
        return Path(OmegaConf.select(cfg, "hydra.run.dir"))
    with open_dict(cfg):
        cfg.hydra.job.num = num
    return Path(OmegaConf.select(cfg, "hydra.sweep.dir")) / str(
        OmegaConf.select(cfg, "hydra.sweep.subdir"))


def check_existing(out_dir: Path, cfg, multirun: bool = False) -> None:
    """With resume=true, a complete run in `out_dir` is skipped only when it ran this
    config; a complete run of another config is a ConfigError naming the differences."""
    from ..results import differences_from

    if not cfg.resume:
        return
    diff = differences_from(out_dir, cfg)
    if diff:
        more = f" and {len(diff) - 3} more" if len(diff) > 3 else ""
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        raise ConfigError(f"resume=true: {out_dir} holds a complete run of another config "
                          f"({'; '.join(diff[:3])}{more}): allowed the same config, another "
                          f"{key}, or resume=false to replace that run")
