"""`axtrain` console script: subcommands over Hydra.

`axtrain train [hydra args]` keeps every Hydra feature (overrides, -m multirun, --cfg,
--help listing the groups). Bad values are caught before any work with a one-line error
and exit code 2; an unknown group option gets Hydra's own message listing the options.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings
from importlib.resources import files
from pathlib import Path

from .sweep import register_resolvers

USAGE = """usage: axtrain <command> [args]

commands:
  train      train one method on one dataset and sweep the hardware knobs (Hydra app:
             `axtrain train --help` lists the config groups; -m runs a multirun sweep)
  eval       evaluate a bp or act run's model.pt on the knobs (dataset, topology, seed and
             words from the checkpoint: `axtrain eval MODEL.pt [key=value ...]`)
  report     build the paper's figure tables from run/multirun directories
             (`axtrain report DIR [DIR ...] [--out OUT]`)
  reproduce  run the paper's whole grid, then the report
             (`axtrain reproduce profile=quick|paper [out=DIR] [jobs=N]`)
  synth      synthesise each multiplier of a knob set: gates, transistors, relative area
             and switching power (`axtrain synth [knobs=NAME] [hardware=fixed8] [--out F]`)

examples:
  axtrain train dataset=mnist_mlp method=bp
  axtrain train -m dataset=breast_cancer,ionosphere,image_seg,satimage method=bp seed=0,1,2
"""

EXIT_USAGE = 2
COMMANDS = ("train", "eval", "report", "reproduce", "synth")
log = logging.getLogger("axtrain")
register_resolvers()  # also in a parallel or cluster job's process, which imports this module


def config_dir() -> str:
    """Absolute path of the shipped configs (works for editable and regular installs)."""
    return str(Path(str(files("axtrain_cli.conf"))).resolve())


def fail(message: str, code: int = EXIT_USAGE) -> None:
    print(f"axtrain: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    try:
        single_run = _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as e:
        print(f"axtrain: {e.args[0] if e.args else 'interrupted'}; nothing was half written "
              "and an earlier run's outputs are kept", file=sys.stderr)
        if argv is None:  # the program itself, not a caller's
            # A Ctrl-C that lands inside a string exec (dataclasses, lazy imports such as
            # torch._dynamo) marks itself "unhandled" in CPython 3.11 even once caught here,
            # and the interpreter would then end by SIGINT (-2) instead of exit code 130.
            _exit_now(130)
        raise SystemExit(130) from None
    # A single `axtrain train` run ends through _exit_now (a multirun's launcher workers are
    # left to the interpreter's own shutdown, as are threads a tracker may have started).
    if argv is None and single_run and all(
            t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        _exit_now(0)


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown of torch, scikit-learn and pandas
    (about 0.5 s of a small run's wall time): every file is closed already (outputs are
    written atomically, TensorBoard's writer is closed), the exit handlers run (logging's
    shutdown flushes the log files) and the standard streams are flushed."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def _main(argv: list[str]) -> bool:
    """Run the command; True when it was one `train` run (no multirun, no inspection)."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return False
    command, rest = argv[0], argv[1:]
    if command == "train":
        return train(rest)
    elif command == "eval":
        return train(eval_overrides(rest))
    elif command == "report":
        from .report import main as report_main

        report_main(rest)
    elif command == "reproduce":
        from .reproduce import main as reproduce_main

        reproduce_main(rest)
    elif command == "synth":
        from .cost import main as synth_main

        synth_main(rest)
    else:
        from .config import did_you_mean

        fail(f"unknown command {command!r}: allowed {', '.join(COMMANDS)}"
             f"{did_you_mean(command, COMMANDS)}")
    return False


def eval_overrides(args: list[str]) -> list[str]:
    """`axtrain eval MODEL.pt [overrides]` as `axtrain train` overrides: the checkpoint's
    method (bp or act, evaluated as they are), dataset, topology, seed and words, then the
    user's overrides (which may change anything but the network)."""
    if not args or args[0].startswith("-") or ("=" in args[0]
                                               and not Path(args[0]).expanduser().is_file()):
        fail("usage: axtrain eval MODEL.pt [key=value ...] (a model.pt a bp or act run wrote)")
    path, rest = Path(args[0]).expanduser(), args[1:]
    if not path.is_file():
        fail(f"{args[0]}: not found: allowed a model.pt an earlier run wrote")
    from .methods.base import checkpoint_facts

    try:
        ck = checkpoint_facts(path)
    except Exception as e:
        fail(f"{args[0]} is not an axtrain checkpoint ({type(e).__name__}): allowed a model.pt "
             "an earlier run wrote")
    if ck["method"] not in ("bp", "act"):
        fail(f"{args[0]} holds a network trained by method={ck['method'] or '(not recorded)'}: "
             "axtrain eval evaluates bp and act networks (method=pas, axtrain and the baselines "
             "start from a checkpoint with method.checkpoint=...)")
    options = sorted(p.stem for p in (Path(config_dir()) / "dataset").glob("*.yaml"))
    path_of = [f"dataset.path='{ck['dataset_path']}'"] if ck["dataset_path"] else []
    if ck["dataset"] in options:
        data = [f"dataset={ck['dataset']}", *path_of]
    elif ck["dataset_path"]:  # a file of the user's: a table or an .npz of images
        kind = "images" if str(ck["dataset_path"]).endswith(".npz") else "csv"
        data = [f"dataset={kind}", *path_of, f"dataset.name={ck['dataset']}"]
    else:
        fail(f"{args[0]}: its dataset {ck['dataset']!r} is not one of {', '.join(options)} "
             "and the checkpoint names no data file")
    topo = ck["topology"] or {}
    base = compose(data).topology  # the dataset's own network: its keys give way to these
    network = [f"~topology.{k}" for k in base if k not in topo]
    network += [f"{'' if k in base else '+'}topology.{k}={_value(v)}" for k, v in topo.items()]
    words = [f"hardware.{k}={ck[k]}" for k in ("bits", "weight_format") if ck[k] is not None]
    return [*data, *network, f"method={ck['method']}", f"method.checkpoint='{path.resolve()}'",
            f"seed={ck['seed']}", *words, *rest]


def _value(v) -> str:
    """A config value as a Hydra override value (lists as [a,b], strings quoted)."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return f"'{v}'" if isinstance(v, str) else str(v)


def _one_line(exc: BaseException) -> str:
    """The most specific message in an exception chain, on one line."""
    from omegaconf.errors import OmegaConfBaseException

    from .config import RANGES

    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if type(e).__name__ == "OverrideParseException":
            return _bad_override(e)
        if isinstance(e, OmegaConfBaseException) and getattr(e, "full_key", None):
            key = e.full_key
            msg = str(getattr(e, "msg", e)).splitlines()[0]
            wrong = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", msg)
            if wrong:  # a value of the wrong type
                value, kind = wrong.groups()
                kind = TYPES.get(kind, kind.lower())
                return f"{key}={value!r} is not {kind}: allowed {RANGES.get(key, kind)}"
            allowed = f" (allowed: {RANGES[key]})" if key in RANGES else ""
            return f"{key}: {msg}{allowed}"
    return " ".join(str(chain[-1]).split())


def _bad_override(exc) -> str:
    """Which override Hydra could not parse, and why, on one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for o in getattr(exc, "overrides", None) or _ARGS:
        try:
            parser.parse_override(o)
        except Exception as e:
            why = " ".join(str(getattr(e, "message", None) or e).split())
            why = "" if why in ("", "None") else f" ({why})"
            return (f"{o!r} is not a valid override{why}: allowed key=value, a sweep "
                    "a,b or choice(a,b) or range(0,3), lists [a,b], dicts {k: v}")
    return " ".join(str(exc).split())


_ARGS: list[str] = []  # the overrides being checked (for naming a bad one)
TYPES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}


def writable_dir(path: str, key: str) -> None:
    """`path` is, or can be made, a writable folder (tried: what this makes is removed
    again); else ConfigError."""
    import tempfile

    from .config import ConfigError

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


def compose(overrides: list[str], hydra: bool = False):
    """The job config of `overrides` (Hydra's compose API; `hydra`: with its `hydra` node)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from .schema import register_configs

    register_configs()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
                cfg = hydra_compose(config_name="config", overrides=list(overrides),
                                    return_hydra_config=hydra)
        finally:  # a search path that is not there first: it explains what follows
            _check_searchpath(said)
    for w in said:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return cfg


def _check_searchpath(said) -> None:
    """A hydra.searchpath entry Hydra could not find (it only warns, and then says the
    configs in it are unknown options) as a ConfigError."""
    from .config import ConfigError

    for w in said:
        m = re.search(r"provider=hydra.searchpath in (?:command-line|main), path=(.*) is not "
                      r"available", str(w.message))
        if m:
            path = m.group(1)
            where = "" if Path(path).is_absolute() else f" ({Path(path).resolve()})"
            raise ConfigError(f"hydra.searchpath: {path} is not found{where}: allowed folders "
                              "of configs (file:///ABSOLUTE/PATH or file://RELATIVE/PATH) or "
                              "pkg://PACKAGE entries")


def check_job(overrides: list[str], where: str = "", num: int | None = None) -> None:
    """Compose one job's config and validate it; a bad value exits 2 with one line
    (prefixed with `where`). The plain values are checked before anything heavy (torch,
    scikit-learn) is imported, so a mistake costs a fraction of a second. `num`: the job's
    number in a multirun (its dir is the sweep dir's job `num`), None for a single run."""
    from omegaconf import OmegaConf, open_dict

    from .config import ConfigError, DataError
    from .schema import check_settings, complete, validate

    _ARGS[:] = overrides
    try:
        cfg = compose(overrides, hydra=True)
        for key in ("hydra.run.dir", "hydra.sweep.dir"):
            writable_dir(OmegaConf.select(cfg, key), key)
        out_dir = job_dir(cfg, num)
        if num == 0:  # a multirun: its launcher can launch here
            check_launcher(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        complete(cfg, explicit_keys(overrides))
        check_settings(cfg)  # plain values first: nothing heavy is imported for a mistake
        check_existing(out_dir, cfg, num is not None)
        validate(cfg)
    except (ConfigError, DataError) as e:
        fail(f"{where}{e}")
    except Exception as e:  # unknown keys and options, types, bad override syntax
        fail(f"{where}{_compose_error(e, overrides)}")


def check_launcher(cfg) -> None:
    """The multirun's launcher (hydra/launcher) is installed, and SLURM's submits where
    SLURM is: else a ConfigError naming the launcher and what it needs."""
    import importlib.util
    import shutil

    from omegaconf import OmegaConf

    from .config import ConfigError

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
    from .config import ConfigError
    from .results import differences_from

    if not cfg.resume:
        return
    diff = differences_from(out_dir, cfg)
    if diff:
        more = f" and {len(diff) - 3} more" if len(diff) > 3 else ""
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        raise ConfigError(f"resume=true: {out_dir} holds a complete run of another config "
                          f"({'; '.join(diff[:3])}{more}): allowed the same config, another "
                          f"{key}, or resume=false to replace that run")


def explicit_keys(overrides) -> set[str]:
    """The config keys the overrides set (group choices included), e.g. {'dataset.name'}."""
    return {str(o).lstrip("+~").split("=", 1)[0] for o in overrides if "=" in str(o)}


def _compose_error(exc: BaseException, overrides: list[str]) -> str:
    """A composition error on one line, in plain words: an unknown key or option with the
    closest valid name, Hydra's "use +" hint where adding a key is what was meant."""
    from hydra.errors import MissingConfigException

    from .config import did_you_mean

    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if isinstance(e, MissingConfigException) and e.options is not None:
            group = str(e.missing_cfg_file or "").rsplit("/", 1)[0]
            given = next((o for o in overrides if o.lstrip("+~").split("=", 1)[0] == group),
                         group)
            value = given.split("=", 1)[-1]
            return (f"{given}: {group} has no option {value!r}{did_you_mean(value, e.options)}; "
                    f"allowed {', '.join(e.options)}")
        key = getattr(e, "full_key", None)
        if type(e).__name__ in ("ConfigAttributeError", "ConfigKeyError") and key:
            parent, _, name = key.rpartition(".")
            if "not in struct" in str(e) and "Dict[" in str(e):  # a mapping: add with +
                return (f"{key}: no such entry in {parent}; to add one, prefix it with +: "
                        f"'+{_override_of(key, overrides)}'")
            rest = [o for o in overrides if not o.lstrip("+~").startswith(key)]
            known = _keys_of(parent, rest)
            part = re.fullmatch(r"knobs\.[^.]+\.(multiplier|memory)", parent)
            if part and "name" in known:  # a hardware model: all its parameters
                known = ["name", *_parameters(part.group(1), parent, rest)]
            return (f"{key}: unknown key{did_you_mean(name, known)}"
                    + (f"; allowed {', '.join(known)}" if known else ""))
    return _one_line(chain[0])


def _override_of(key: str, overrides: list[str]) -> str:
    return next((o.lstrip("+~") for o in overrides if o.lstrip("+~").startswith(key + "=")), key)


def _parameters(part: str, node: str, overrides: list[str]) -> list[str]:
    """The parameters of the multiplier or memory model the config node `node` names."""
    import dataclasses

    from omegaconf import OmegaConf

    try:
        from . import hardware

        name = OmegaConf.select(compose(overrides), f"{node}.name")
        registry = hardware.MULTIPLIERS if part == "multiplier" else hardware.MEMORIES
        return [f.name for f in dataclasses.fields(registry.get(name))]
    except Exception:
        return []


def _keys_of(parent: str, overrides: list[str]) -> list[str]:
    """The keys of the config node `parent` ('' the root) under `overrides` (those that
    compose), for suggestions; [] if they do not compose."""
    from omegaconf import OmegaConf

    try:
        node = compose(overrides)
        node = OmegaConf.select(node, parent) if parent else node
        return [str(k) for k in node.keys()] if hasattr(node, "keys") else []
    except Exception:
        return []


def sweep_jobs(overrides: list[str]) -> tuple[list[list[str]], set[str]] | None:
    """The overrides of every job a multirun of `overrides` launches (the basic sweeper's
    cartesian product) and the swept keys, or None for another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if any(o.lstrip("+~").startswith("hydra/sweeper=") for o in overrides):
        return None
    _ARGS[:] = overrides
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        fail(_one_line(e))
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch], swept


def mixed_method_settings(jobs: list[list[str]]) -> str | None:
    """For a sweep over methods with a `method.KEY=...` that some of them do not have
    (`-m method=bp,axtrain method.finetune_epochs=2`): one line saying how to run it (one
    multirun per method, into one sweep dir, which `axtrain report` reads as one); None
    otherwise."""
    import dataclasses

    from .methods.settings import SETTINGS

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
    from omegaconf import open_dict

    from .config import ConfigError, DataError
    from .results import differences_from
    from .schema import complete
    from .run import run
    from .ui import duration

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
        complete(cfg, explicit_keys(hc.overrides.task))
        check_existing(out_dir, cfg, multirun)  # checked before a sweep starts, and here
        if differences_from(out_dir, cfg) is not None:
            if cfg.resume:
                log.info("%s: %s holds a complete run of this config, skipping", job, out_dir)
                return
            log.warning("%s: %s holds a complete run; this run replaces it when it has "
                        "finished (it stays as it is until then; resume=true would skip it)",
                        job, out_dir)
        if multirun and cfg.progress == "auto":  # parallel jobs: log lines, not tangled bars
            with open_dict(cfg):
                cfg.progress = "log"
        run(cfg, out_dir, str(Path(hc.sweep.dir).resolve()) if multirun else None)
    except (ConfigError, DataError) as e:
        fail(str(e))
    except KeyboardInterrupt as e:
        from .resume import Interrupted

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

    from .schema import register_configs

    register_configs()
    hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
