"""axtrain: hardware-oriented neural-network training for approximate inference.

From Python (a script or a notebook; `axtrain_cli.api`):

    import axtrain_cli as ax

    s = ax.settings_for("ionosphere", "act", train={"epochs": 20})
    results = ax.run(s, "runs/ionosphere_act")   # a pandas DataFrame of results.csv

and your own nn.Module as the accelerator runs it: `ax.on_hardware(model, "K1", batch)`.
Importing this package imports nothing heavy (torch comes with the first call).
"""

__version__ = "0.1.0"

_API = ("build_network", "load_data", "run", "settings_for", "sweep", "train", "write_report",
        "write_run")  # no subpackage has one of these names: it would shadow the function


def on_hardware(model, knob, calibration_data, **kwargs):
    """Your own nn.Module as the accelerator runs it for a knob (networks.on_hardware)."""
    from .networks import on_hardware as build

    return build(model, knob, calibration_data, **kwargs)


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'axtrain_cli' has no attribute {name!r}")


__all__ = [*_API, "on_hardware"]
