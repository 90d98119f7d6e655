"""What the circuits' costs are relative to (`hardware.cost_reference`): a Verilog design of
the user's, synthesised once per word width, or None for Yosys's exact `a * b`."""

from __future__ import annotations

from ..errors import ConfigError, SynthesisError
from .multipliers import MULTIPLIERS


def _plain(node):
    """A config node as plain values (OmegaConf's or plain mappings)."""
    if hasattr(node, "items"):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def cost_reference(h):
    """The circuit `hardware.cost_reference` names (see `reference_circuit`), or None."""
    return reference_circuit(h.cost_reference, h.bits)


def reference_circuit(spec, bits: int):
    """The circuit of a cost reference ({file, top, signed, a, b, y} of a Verilog design,
    or its file alone), or None for None; ConfigError (one line) if it is not a design
    axtrain can synthesise at `bits`-bit words."""
    if spec is None:
        return None
    spec = {"file": spec} if isinstance(spec, str) else _plain(spec)
    key = tuple(sorted((str(k), str(v)) for k, v in dict(spec).items())) + (bits,)
    if key not in _REFERENCES:
        if not isinstance(spec, dict) or "name" in spec:
            raise ConfigError(f"hardware.cost_reference={spec!r} is out of range: allowed a "
                              "Verilog file, or {file: F, top: ..., signed: ...} as a "
                              "verilog knob takes them")
        try:
            _REFERENCES[key] = MULTIPLIERS.build({"name": "verilog", **spec}, bits).design
        except (ValueError, SynthesisError) as e:
            raise ConfigError(f"hardware.cost_reference.{e}") from None
    return _REFERENCES[key]


_REFERENCES: dict = {}


def reference_label(h) -> str:
    """hardware.cost_reference as results.csv names it: its file and SHA-256 (12 digits)."""
    import hashlib

    ref = cost_reference(h)
    if ref is None:
        return ""
    return f"{ref.file} (sha256={hashlib.sha256(ref.verilog.encode()).hexdigest()[:12]})"
