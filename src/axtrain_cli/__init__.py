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
    from .datafiles import resolve_user_data
    from .schema import validate

    cfg = hydra_compose(list(overrides))
    resolve_user_data(cfg, explicit_keys(overrides))
    if check:
        validate(cfg)
    return cfg


__all__ = ["compose"]
