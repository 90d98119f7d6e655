"""Every option of every group composes and validates; bad values fail with one line."""

from pathlib import Path

import pytest

from axtrain_cli.cli import config_dir
from axtrain_cli.config import ConfigError, validate

GROUPS = ["dataset", "topology", "method", "approx", "hardware"]


def options(group):
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes(compose_cfg, group):
    opts = options(group)
    assert opts, group
    for opt in opts:
        extra = ["approx.voltage_mv=500", "approx.flip_rate=0.05"] if opt == "ntv_custom" else []
        cfg = compose_cfg([f"{group}={opt}", *extra])
        if group == "method" and opt != "bp":
            continue  # later methods are validated by their own tests
        validate(cfg)
        assert cfg[group].name


def test_dataset_picks_its_table1_topology(compose_cfg):
    expect = {"breast_cancer": "30-64-64-2", "image_seg": "19-64-64-7",
              "ionosphere": "34-50-50-2", "satimage": "36-64-64-7",
              "mnist_mlp": "784-128-128-10", "mnist_cnn": "LeNet-5"}
    for ds, topo in expect.items():
        cfg = compose_cfg([f"dataset={ds}"])
        assert cfg.topology.name == topo
    volts = {ds: dict(compose_cfg([f"dataset={ds}"]).dataset.voltages) for ds in expect}
    assert volts["breast_cancer"] == {"aggressive": 400, "conservative": 660}
    assert all(v == {"aggressive": 660, "conservative": 850}
               for ds, v in volts.items() if ds != "breast_cancer")


@pytest.mark.parametrize("override,key", [
    ("train.epochs=0", "train.epochs"),
    ("train.lr=0", "train.lr"),
    ("train.lr=-1e-3", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("dataset.test_size=1.0", "dataset.test_size"),
    ("dataset.test_size=0", "dataset.test_size"),
    ("hardware.bits=40", "hardware.bits"),
    ("hardware.multipliers.K1=1", "hardware.multipliers.K1"),
    ("hardware.multipliers.K1=16", "hardware.multipliers.K1"),
    ("hardware.flip_rates.660=1.5", "hardware.flip_rates.660"),
    ("dataset.voltages.aggressive=500", "dataset.voltages.aggressive"),
    ("eval.trials=0", "eval.trials"),
    ("eval.knobs=[exact,K9]", "eval.knobs"),
    ("train.optimizer=rmsprop", "train.optimizer"),
])
def test_out_of_range_values_name_the_key(compose_cfg, override, key):
    cfg = compose_cfg([override])
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    msg = str(e.value)
    assert msg.startswith(key) and "allowed" in msg and "\n" not in msg


def test_custom_voltage_with_flip_rate_is_accepted(compose_cfg):
    cfg = compose_cfg(["+hardware.flip_rates.500=0.05", "dataset.voltages.aggressive=500"])
    validate(cfg)
