"""Hardware knobs: named settings of the accelerator, each a multiplier and a memory model.

The `knobs` config group holds them (conf/knobs/paper.yaml: exact, K1..K4, ntv400/660/850):

    K1: {multiplier: {name: drum, k: 4}}
    ntv660: {memory: {name: flips, voltage_mv: 660, rate: 0.01}}
    mixed: {multiplier: {name: drum, k: 4}, layers: {conv1: {multiplier: {name: exact}}}}

A missing multiplier is the exact one, a missing memory the reliable SRAM at nominal
voltage. `layers` assigns a multiplier and/or a memory per layer, by the layer's name (as
the coverage names it, e.g. `features.0`) or a glob (`fc*`): a name given in full wins over
a glob, globs apply in the order written, and a layer no entry matches takes the knob's
own multiplier and memory.

The same names serve training (`method.knob` of pas and ApproxANN; AxTrain tunes for each
approximate knob of `eval.knobs`) and the sweep (`eval.knobs`); the dataset's
`levels` (aggressive, conservative) are aliases for knob names, and `float` is the plain
float network. Add a knob with `+knobs.NAME={multiplier: {...}}` or a YAML of your own in
the `knobs` group (see docs/cli.md, "Knobs").
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from . import hardware as hw
from .errors import ConfigError
from .hardware.baseline import cost_reference, reference_circuit, reference_label  # noqa: F401 (re-exported)
from .settings import knob_names, to_dict

FLOAT = "float"
PARTS = {"multiplier": hw.MULTIPLIERS, "memory": hw.MEMORIES}


@dataclass(frozen=True)
class Layers:
    """A knob's entry for the layers `pattern` names (a unit name or a glob): its multiplier
    and memory (None: the knob's own); `neurons`: only these output units of each such layer
    (a Linear's outputs, a convolution's channels), the rest as the layer is otherwise."""

    pattern: str
    multiplier: hw.Multiplier | None = None
    memory: hw.Memory | None = None
    neurons: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        return self.pattern if self.neurons is None else \
            f"{self.pattern}[{','.join(map(str, self.neurons))}]"


@dataclass(frozen=True)
class Knob:
    """A resolved knob. multiplier None: the float network (no hardware at all); layers:
    per-layer entries (`Layers`), the knob's multiplier and memory for the layers none
    matches."""

    name: str
    multiplier: hw.Multiplier | None
    memory: hw.Memory = hw.RELIABLE
    layers: tuple[Layers, ...] = ()

    @property
    def multipliers(self) -> list[hw.Multiplier]:
        return [self.multiplier, *(e.multiplier for e in self.layers if e.multiplier)]

    @property
    def memories(self) -> list[hw.Memory]:
        return [self.memory, *(e.memory for e in self.layers if e.memory)]

    @property
    def stochastic(self) -> bool:
        """Whether a read of its words can differ from the next (a memory that flips)."""
        return any(m.stochastic for m in self.memories)

    @property
    def domain(self) -> str:
        """float | exact | compute (approximate multiplier) | storage (unreliable or
        low-voltage memory) | compute+storage, over every layer's parts."""
        if self.multiplier is None:
            return "float"
        parts = [d for d, plain in (("compute", all(m.exact for m in self.multipliers)),
                                    ("storage", all(m.nominal for m in self.memories)))
                 if not plain]
        return "+".join(parts) or "exact"

    @property
    def multiplier_label(self) -> str:
        """The multiplier as results.csv names it; with per-layer multipliers each entry's
        (`layers(conv1: exact; *: drum(k=4))`, `*` the layers no entry names)."""
        return self._label("multiplier")

    @property
    def memory_label(self) -> str:
        return self._label("memory")

    def _label(self, part: str) -> str:
        own = getattr(self, part)
        if own is None:
            return ""
        entries = [(e.label, getattr(e, part)) for e in self.layers if getattr(e, part)]
        if not entries:
            return own.label
        return "layers(" + "; ".join(f"{p}: {m.label}" for p, m in [*entries, ("*", own)]) + ")"

    def assign(self, names: list[str]) -> list[tuple[hw.Multiplier, hw.Memory]]:
        """(multiplier, memory) of each layer called `names[i]`; ConfigError (one line) for
        an entry that names no layer."""
        out = []
        for name in names:
            mult, mem = None, None
            for e in self._entries(name, whole=True):
                mult, mem = mult or e.multiplier, mem or e.memory
            out.append((mult or self.multiplier, mem or self.memory))
        for e in self.layers:
            if not any(n == e.pattern or fnmatchcase(n, e.pattern) for n in names):
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                raise ConfigError(f"knobs.{self.name}.layers: {e.pattern!r} matches no layer "
                                  f"of the network: allowed a name or a glob of {shown}")
        return out

    def _entries(self, name: str, whole: bool) -> list[Layers]:
        """The entries for layer `name` (a full name first, then globs in order): those for
        the whole layer, or those for some of its neurons."""
        mine = [e for e in self.layers if (e.neurons is None) == whole]
        return ([e for e in mine if e.pattern == name] +
                [e for e in mine if e.pattern != name and fnmatchcase(name, e.pattern)])

    def neuron_parts(self, units) -> list[list[Layers]]:
        """Per unit, the entries for some of its neurons; ConfigError (one line) for a
        neuron out of a layer's range or a layer that is not a Linear or convolution."""
        out = []
        for u in units:
            entries = self._entries(u.name, whole=False)
            for e in entries:
                bad = [j for j in e.neurons if not 0 <= j < u.outputs]
                if bad or u.kind not in ("fc", "conv"):
                    raise ConfigError(
                        f"knobs.{self.name}.layers.{e.pattern}.neurons={list(e.neurons)!r} is "
                        f"out of range for layer {u.name} ({u.kind}): allowed indices 0.."
                        f"{u.outputs - 1} of a Linear's outputs or a convolution's channels")
            out.append(entries)
        return out

    def check_units(self, units) -> None:
        """Every entry names a layer of these units, every neuron one of its outputs."""
        self.assign([u.name for u in units])
        self.neuron_parts(units)

    def compute_power(self, bits: int = 16, power_model: str = "proxy",
                      reference=None) -> float:
        """The knob's own multiplier's power relative to an exact multiplier of `bits`-bit
        words under `power_model` (hardware.power_model), or relative to `reference`, a
        circuit (hardware.cost_reference, `cost_reference`). A network's, with per-layer
        entries: evaluation.network_power."""
        if self.multiplier is None:
            return 1.0
        return self.multiplier.power_as(power_model, bits, reference)

    def storage_power(self, nominal_mv: float) -> float:
        """The knob's own memory's SRAM power relative to nominal voltage."""
        return self.memory.power(nominal_mv)

    def parameters(self) -> dict:
        """{multiplier_<param>: value, memory_<param>: value} of the models' parameters
        (lists as text): results.csv's columns per parameter, for plotting a sweep (none
        for a knob with per-layer entries: its label names them)."""
        if self.multiplier is None or self.layers:
            return {}
        return {f"{part}_{k}": (v if isinstance(v, (int, float, str, bool)) else str(v))
                for part, model in (("multiplier", self.multiplier), ("memory", self.memory))
                for k, v in model.parameters().items() if v is not None}


EXACT = Knob("exact", hw.Exact())


def build(name: str, spec, bits: int) -> Knob:
    """The knob `name` from its config entry {multiplier: {...}, memory: {...}}."""
    if not hasattr(spec, "keys") or set(spec) - {*PARTS, "layers"}:
        raise ConfigError(f"knobs.{name}={_plain(spec)!r} is not a knob: allowed a mapping with "
                          "`multiplier` and/or `memory` entries, each {name: MODEL, ...}, and "
                          "`layers`: {LAYER_OR_GLOB: {multiplier: ..., memory: ...}}")
    parts = _parts(f"knobs.{name}", spec, bits)
    layers = spec.get("layers") or {}
    if not hasattr(layers, "keys"):
        raise ConfigError(f"knobs.{name}.layers={_plain(layers)!r} is out of range: allowed "
                          "{LAYER_OR_GLOB: {multiplier: ..., memory: ...}, ...}")
    entries = []
    for pattern, entry in layers.items():
        where = f"knobs.{name}.layers.{pattern}"
        if not hasattr(entry, "keys") or not set(entry) & set(PARTS) or \
                set(entry) - {*PARTS, "neurons"}:
            raise ConfigError(f"{where}={_plain(entry)!r} is out of range: allowed "
                              "{multiplier: {name: MODEL, ...}, memory: {name: MODEL, ...}, "
                              "neurons: [INDEX, ...]}")
        neurons = entry.get("neurons")
        if neurons is not None and (isinstance(neurons, (str, int)) or not all(
                isinstance(j, int) and not isinstance(j, bool) for j in neurons)):
            raise ConfigError(f"{where}.neurons={_plain(neurons)!r} is out of range: allowed a "
                              "list of output indices, e.g. [0, 3]")
        entries.append(Layers(str(pattern), **_parts(where, entry, bits),
                              neurons=None if neurons is None else tuple(neurons)))
    return Knob(name, parts.get("multiplier", hw.Exact()), parts.get("memory", hw.RELIABLE),
                tuple(entries))


def _parts(where: str, spec, bits: int) -> dict:
    parts = {}
    for part, registry in PARTS.items():
        entry = spec.get(part)
        if entry is None:
            continue
        if not hasattr(entry, "keys"):
            raise ConfigError(f"{where}.{part}={_plain(entry)!r} is out of range: allowed "
                              "{name: MODEL, PARAM: VALUE, ...}")
        try:
            parts[part] = registry.build(entry, bits)
        except ValueError as e:
            raise ConfigError(f"{where}.{part}.{e}") from None
    return parts


def paper_knobs() -> dict:
    """The paper's knob set (conf/knobs/paper.yaml) as {name: {multiplier, memory}}."""
    from importlib.resources import files

    import yaml

    return yaml.safe_load((files("axtrain_cli.conf") / "knobs" / "paper.yaml").read_text())


def paper_knob(name: str, bits: int) -> Knob:
    """The paper's knob `name` (exact, K1..K4, ntv400/660/850) for `bits`-bit words."""
    paper = paper_knobs()
    if name not in paper:
        raise ValueError(f"knob {name!r}: allowed {', '.join(paper)} or a "
                         "{multiplier: ..., memory: ...} mapping")
    return build(name, paper[name], bits)


def paper_labels(bits: int) -> dict[str, tuple[str, str]]:
    """{name: (multiplier label, memory label)} of the paper's knobs at `bits`-bit words
    (what results.csv writes for them), for naming the knobs that differ."""
    out = {}
    for name in paper_knobs():
        try:
            k = paper_knob(name, bits)
        except Exception:  # e.g. a k the word is too short for
            continue
        out[name] = (k.multiplier_label, k.memory_label)
    return out


def resolve(name: str, cfg) -> Knob:
    """The knob called `name` (a dataset level resolves to the knob it names)."""
    if name == FLOAT:
        return Knob(FLOAT, None)
    target = cfg.dataset.levels.get(name, name)
    if target not in cfg.knobs:
        raise ConfigError(f"unknown knob {name!r}: allowed {', '.join(knob_names(cfg))}")
    return build(target, cfg.knobs[target], cfg.hardware.bits)


def check(cfg) -> None:
    """Every knob builds (its models and their parameters) and `exact` is exact. (The knob
    names, in `knobs`, eval.knobs, method.knob and the levels, are checked with the rest of
    the config: `config.check_knob_names`.)"""
    power_model = cfg.hardware.power_model
    if cfg.hardware.cost_reference is not None and power_model == "proxy":
        raise ConfigError(f"hardware.cost_reference={_plain(cfg.hardware.cost_reference)!r} "
                          "costs circuits: allowed with hardware.power_model=area or "
                          "switching (proxy uses typed-in figures)")
    reference = cost_reference(cfg.hardware)
    for name, spec in cfg.knobs.items():
        knob = build(name, spec, cfg.hardware.bits)
        if power_model != "proxy":  # synthesised (cached) before any work
            try:
                for m in knob.multipliers:
                    m.power_as(power_model, cfg.hardware.bits, reference)
            except hw.SynthesisError as e:
                raise ConfigError(f"hardware.power_model={power_model}: knob {name}: {e}") from None
            except ValueError as e:
                raise ConfigError(f"knobs.{name}.multiplier.{e}") from None
        if name == EXACT.name and knob.domain != "exact":
            raise ConfigError(f"knobs.exact={_plain(spec)!r} is out of range: allowed the exact "
                              "multiplier and reliable memory ({}); name other settings "
                              "differently")


def _plain(node):
    return to_dict(node)
