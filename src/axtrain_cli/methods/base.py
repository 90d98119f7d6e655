"""What the methods share: the bundle a method hands to the sweep, its context, and the
training helpers (a fit with the config's optimiser, BP, training through a hardware
knob, starting from a checkpoint)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import knobs
from ..data import crop_flip
from ..errors import ConfigError
from ..knobs import Knob
from ..networks import Network, make_plan, network_of, upgrade_state_dict
from ..networks.plan import clip_to_format
from ..results import Measurement, load_checkpoint
from ..settings import require
from ..training import Step, bp_step, fit, loss_per_sample, make_optimizer

log = logging.getLogger("axtrain")


@dataclass
class Trained:
    """What a method hands to the inference sweep.

    net: the trained network; train_knob: the knob it was trained for (pas, ApproxANN);
    per_knob: networks fine-tuned for one knob each (AxTrain), used for that knob's rows;
    history: per-epoch records; figures: the method's own numbers, written as extra
    result columns; measurements: results the method evaluated itself (e.g. ApproxANN's
    partly approximate network)."""

    net: Network
    train_knob: str = ""
    per_knob: dict[str, Network] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)


@dataclass
class Context:
    """cfg: the whole config; m: the method's typed config (its module's `Conf`);
    generator: the CPU generator of the batch order; draws: the generator of the hardware
    draws during training (on the run's device; None: `generator` itself, as on CPU)."""

    cfg: object
    m: object
    split: object
    generator: torch.Generator
    progress: object = None
    draws: torch.Generator | None = None
    state: object = None  # resume.TrainingState: the resumable training, or None

    @property
    def draw_generator(self) -> torch.Generator:
        return self.generator if self.draws is None else self.draws


def fit_net(net: Network, ctx: Context, step: Step, epochs: int, lr: float, label: str,
            on_epoch=None, stateful=None) -> list[dict]:
    """Train with train.{optimizer, weight_decay, momentum, batch_size}; history per epoch.
    One resumable phase of the run's training (`ctx.state`): a phase a rerun finds finished
    is restored instead of trained, an interrupted one continues. `stateful`: an object
    whose state_dict() the phase's progress carries too (act's adaptive gamma)."""
    t, split, h = ctx.cfg.train, ctx.split, ctx.cfg.hardware
    state = ctx.state
    key = state.phase(label) if state is not None else label
    done = state.finished(key, net, stateful) if state is not None else None
    if done is not None:
        estimate = getattr(ctx.progress, "estimate", None)
        if estimate is not None:  # restored, not trained: no longer planned work
            estimate.batches -= epochs * -(-len(split.x_train) // t.batch_size)
        return done
    opt = make_optimizer(net.parameters(), t.optimizer, lr, t.weight_decay, t.momentum)
    first, before, inside = (state.resumed(key, net, opt, stateful) if state is not None
                             else (1, [], None))
    # the paper's weight word (sign and fraction bits): weights kept in its range by
    # clipping after every step; history's clipped_weights = weights that hit the bound
    clip = (lambda: {"clipped_weights": clip_to_format(net, h.bits)}) \
        if h.weight_format == "fraction" else None
    save = (lambda epoch, hist: state.after_epoch(key, epoch, hist, net, opt, stateful)) \
        if state is not None else None
    save_inside = (lambda epoch, point, hist: state.inside_epoch(
        key, epoch, point, hist, net, opt, stateful)) if state is not None else None
    history = fit(net, split.x_train, split.y_train, epochs=epochs, batch_size=t.batch_size,
                  optimizer=opt, step=step, generator=ctx.generator, on_epoch=on_epoch,
                  progress=ctx.progress, label=label, after_step=clip, first_epoch=first,
                  history=before, after_epoch=save,
                  transform=crop_flip if getattr(split, "augment", False) else None,
                  inside=inside, after_batch=save_inside)
    for r in history:
        r["phase"] = label
    if state is not None:
        state.end(key, history, net, stateful)
    return history


def train_bp(net: Network, ctx: Context, label: str = "bp") -> list[dict]:
    t = ctx.cfg.train
    return fit_net(net, ctx, bp_step(t.loss, ctx.split.n_classes), t.epochs, t.lr, label)


def hardware_step(make_plan_for, loss: str, n_classes: int) -> Step:
    """Training through a hardware model: `make_plan_for(net)` gives the plan (built from
    the current weights at every step, e.g. fresh NTV flips); Eq. 12 STE backward."""

    def step(net, xb, yb):
        with torch.no_grad():
            plan = make_plan_for(net)
        z = net.logits(xb, plan, ste=True)
        e = loss_per_sample(z, yb, loss, n_classes).mean()
        return e, {"loss": e.detach(), "error_rate": (z.argmax(-1) != yb).float().mean()}

    return step


def knob_step(knob: Knob, cfg, n_classes: int, generator: torch.Generator,
              ste_clip: float, gradient: str = "ste", window: int = 4) -> Step:
    """AxTrain-pas: forward through `knob` (a fresh read of a stochastic memory every pass,
    the knob's multiplier, fixed point with per-batch activation ranges), backward by the
    estimator `gradient` (hardware.gradients; ste: the straight-through estimator)."""
    h = cfg.hardware
    if gradient != "ste" and knob.multiplier is not None:
        from ..hardware import gradient_rule

        for mult in knob.multipliers:
            rule = gradient_rule(mult, gradient, h.bits, window)
            log.info("training through %s (%s): backward by method.gradient=%s (%s)", knob.name,
                     mult.label, gradient,
                     rule.note if rule is not None else "exact products: the STE's")
    return hardware_step(
        lambda net: make_plan(net, knob, h.bits, None, generator=generator,
                              store_biases=h.store_biases, ste_clip=ste_clip,
                              weight_format=h.weight_format, gradient=gradient,
                              gradient_window=window),
        cfg.train.loss, n_classes)


def check_gradient(cfg, names) -> None:
    """method.gradient can run on the multiplier of every knob in `names` (one line)."""
    from ..hardware import gradient_rule

    for name in names:
        knob = knobs.resolve(name, cfg)
        if knob.multiplier is not None:
            try:
                for mult in knob.multipliers:
                    gradient_rule(mult, cfg.method.gradient, cfg.hardware.bits,
                                  cfg.method.gradient_window)
            except ValueError as e:
                raise ConfigError(f"{e} (knob {name})") from None


def checkpoint_facts(path) -> dict:
    """What a model.pt says of its network: method, epochs, setting, topology (config and
    label), arch, bits, weight_format, dataset (and dataset_path), seed, train_knob; None
    (setting: '') where a checkpoint of an earlier version does not say."""
    with warnings.catch_warnings():  # torch warns about what weights_only refuses
        warnings.simplefilter("ignore")
        ck = load_checkpoint(Path(path).expanduser())
    keys = ("method", "epochs", "topology", "topology_label", "arch", "bits", "weight_format",
            "dataset", "dataset_path", "seed", "train_knob")
    return {**{k: ck.get(k) for k in keys}, "setting": ck.get("setting") or ""}


def starts_from(cfg) -> tuple[str, ...] | None:
    """The methods whose networks `cfg.method` may start from (None: any)."""
    m = cfg.method
    return {"bp": ("bp",), "act": ("act",), "axtrain": ("act", "axtrain"),
            "approxann": (getattr(m, "init", None),),
            "axnn": (getattr(m, "init", None),)}.get(m.name)


def check_checkpoint(cfg) -> None:
    """method.checkpoint, if set, is a model.pt of an earlier run of this topology, trained
    by a method this one may start from (bp and act evaluate a network of their own kind;
    axtrain starts from act; the baselines from their `init`; pas from any)."""
    path = cfg.method.checkpoint
    if path is None:
        return
    file = Path(path).expanduser()
    allowed = "a model.pt an earlier run of this topology wrote, or null"
    require(cfg, "method.checkpoint", file.is_file(),
            f"{allowed} ({'it is a directory' if file.is_dir() else 'no such file'})",
            problem="is not a file" if file.is_dir() else "is not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ck = load_checkpoint(file)
        state = ck["state_dict"]
        got = {k: tuple(v.shape) for k, v in state.items()}
    except Exception as e:
        raise ConfigError(f"method.checkpoint={path!r} is not an axtrain checkpoint "
                          f"({type(e).__name__}): allowed {allowed}") from None
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise ConfigError(f"method.checkpoint={path!r} holds non-finite weights ({bad[0]}): "
                          f"allowed {allowed}")
    trained_by, ok = ck.get("method"), starts_from(cfg)
    if trained_by is not None and ok is not None and trained_by not in ok:
        use = ("use method=" + trained_by + f", or `axtrain eval {path}`"
               if trained_by in ("bp", "act") else "train one with " + " or ".join(
                   f"method={o}" for o in ok))
        raise ConfigError(f"method.checkpoint={path!r} holds a network trained by "
                          f"method={trained_by}; method={cfg.method.name} starts from "
                          f"{' or '.join(ok)} networks: {use}")
    net = network_of(cfg)
    got = {k: tuple(v.shape) for k, v in upgrade_state_dict(net, state).items()}
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            theirs = ck.get("topology_label") or (ck.get("topology") or {}).get("name", "?")
            raise ConfigError(f"method.checkpoint={path!r} holds another network's weights "
                              f"({theirs}; {key}: {list(got.get(key, ()))} there, "
                              f"{list(want.get(key, ()))} in {net.label}): allowed {allowed}; "
                              f"`axtrain eval {path}` takes the topology from the checkpoint")


def load_start(net: Network, ctx: Context) -> None:
    """Start from the model.pt of an earlier run (`method.checkpoint`, checked before). A
    checkpoint of another seed or dataset is loaded with a warning: the seed draws the
    train/test split, so its test set holds some of the network's training data."""
    file = Path(ctx.m.checkpoint).expanduser()
    ck = load_checkpoint(file)
    net.load_state_dict(upgrade_state_dict(net, ck["state_dict"]))
    log.info("starting from %s (trained by %s for %s epochs)", file, ck.get("method", "?"),
             ck.get("epochs", "?"))
    cfg = ctx.cfg
    for key, ours in (("dataset", cfg.dataset.name), ("seed", cfg.seed)):
        if key in ck and ck[key] != ours:
            log.warning("method.checkpoint was trained with %s=%s, this run has %s=%s: its "
                        "test set overlaps the network's training data", key, ck[key], key, ours)


def check_knob(cfg, domains=("compute", "storage", "compute+storage")) -> None:
    """method.knob names a knob of one of `domains` (e.g. compute: an approximate
    multiplier); the default: any approximate knob."""
    knob = knobs.resolve(cfg.method.knob, cfg)
    require(cfg, "method.knob", knob.domain in domains,
            f"a knob whose domain is {' or '.join(domains)} (got {knob.domain})")



