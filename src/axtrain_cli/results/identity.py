"""What defines a measurement, beside its seed: the network built (a label from its layers
and a short hash of its architecture), and the run's settings (a short hash of the config
less the seed and what only presents or schedules the run). Two runs whose rows agree on
these, the method and the knob's definition measured the same thing and may be averaged
over seeds; the report keeps any others apart (`report.load`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..settings import to_dict

# Config keys that do not change what a run measures (how it is shown, scheduled, logged,
# where it runs) or that the results carry as columns of their own (the knobs: each row's
# multiplier and memory; method.knob: train_knob and its definition; method.checkpoint:
# the start network's own setting, `start`).
NOT_SETTINGS = ("seed", "resume", "threads", "device", "logger", "tracking", "progress",
                "checkpoint", "eval", "knobs", "profile", "hydra", "method.checkpoint",
                "method.knob", "dataset.description", "topology.name", "train.save_every",
                "hardware.min_coverage")


# Config keys that change neither the training nor what a run writes (how it is shown,
# scheduled, logged): a complete run with other values of these is the same run.
NOT_RESULTS = ("resume", "threads", "logger", "tracking", "progress", "train.save_every",
               "hydra", "hardware.min_coverage")


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """A (resolved) config as {dotted key: value}, lists kept whole."""
    node = to_dict(node)
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flat(v, key))
            else:
                out[key] = v
    else:
        out[prefix] = node
    return out


# Keys added to the config after the settings hash was defined count only when set away
# from their default, so that the runs before them keep their hash.
LATER_KEYS = {"dataset.augment": False, "hardware.power_model": "proxy",
              "hardware.cost_reference": None, "hardware.unsupported": "refuse",
              "hardware.min_coverage": None, "method.gradient": "ste",
              "method.gradient_window": 4}


def settings(cfg) -> dict[str, Any]:
    """The run's settings: its flat config less NOT_SETTINGS (and anything below them)."""
    return {k: v for k, v in flat(cfg).items()
            if not any(k == n or k.startswith(n + ".") for n in NOT_SETTINGS)
            and not (k in LATER_KEYS and v == LATER_KEYS[k])}


def setting_hash(cfg, start: str = "") -> str:
    """Short hash of settings(cfg) and, for a run that starts from a checkpoint, the
    checkpoint's own setting (`start`)."""
    values = {**settings(cfg), "start": start}
    return short_hash(json.dumps(values, sort_keys=True, default=str))


def differences(old, new) -> list[str]:
    """'key: old -> new' for every config value (flat, resolved) that differs between two
    configs, less NOT_RESULTS; [] when they describe the same run."""
    a, b = flat(old or {}), flat(new)

    def kept(key: str) -> bool:
        return not any(key == n or key.startswith(n + ".") for n in NOT_RESULTS)

    unset = "(unset)"  # a key added later reads as its default in a config without it
    a, b = ({k: c.get(k, LATER_KEYS[k]) for k in LATER_KEYS if k in a or k in b} | c
            for c in (a, b))
    keys = [k for k in sorted(set(a) | set(b))
            if kept(k) and a.get(k, unset) != b.get(k, unset)]
    # another option of a group (method=act -> bp): its name, not each of its keys
    groups = {k[:-len(".name")] for k in keys if k.endswith(".name")}
    keys = [k for k in keys if k.endswith(".name")
            or not any(k.startswith(g + ".") for g in groups)]
    keys.sort(key=lambda k: (not k.endswith(".name"), k not in a or k not in b))
    return [f"{k}: {a.get(k, unset)} -> {b.get(k, unset)}" for k in keys]


def architecture(net) -> str:
    """The network's architecture as text: its modules with their shapes and what its
    forward runs (no weights). A chain (the paper's networks) is written as its compute
    layers and its program of ops, in the form results.csv has always hashed, so that its
    runs of every version share their `arch`."""
    activation = str(getattr(net, "output_activation", ""))
    if getattr(net, "program", None):
        from torch import nn

        modules = {id(getattr(m, "weight", None)): m for m in net.model.modules()}

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.compute = nn.ModuleList(modules[id(u.weight)] for u in net.units)

        return "\n".join([repr(Net()), repr(net.program), activation])
    return "\n".join([repr(net), repr(getattr(net, "ops", "")), activation])


def arch_hash(net) -> str:
    return short_hash(architecture(net))
