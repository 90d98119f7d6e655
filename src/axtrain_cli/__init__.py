"""axtrain: hardware-oriented neural-network training for approximate inference.

From Python (a script or a notebook):

    from axtrain_cli import compose
    from axtrain_cli.run import run

    cfg = compose(["dataset=ionosphere", "method=act", "train.epochs=20"])
    results = run(cfg, "runs/ionosphere_act")   # a pandas DataFrame of results.csv
"""

__version__ = "0.1.0"


def compose(overrides=(), check: bool = True):
    """The config `axtrain train OVERRIDES` runs, from Hydra's compose API (no Hydra run,
    no working-directory change): a data file of yours (dataset.path) resolved as the CLI
    does, and with `check`, validated. Bad values raise ConfigError or DataError (one-line
    messages); an unknown key or option raises Hydra's error."""
    from .cli import compose as hydra_compose
    from .cli import explicit_keys
    from .schema import complete, validate

    cfg = hydra_compose(list(overrides))
    complete(cfg, explicit_keys(overrides))
    if check:
        validate(cfg)
    return cfg


def on_hardware(model, knob, calibration_data, **kwargs):
    """Your own nn.Module as the accelerator runs it for a knob (networks.on_hardware)."""
    from .networks import on_hardware as build

    return build(model, knob, calibration_data, **kwargs)


__all__ = ["compose", "on_hardware"]
