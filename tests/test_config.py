"""Every option of every group composes and validates; bad values fail with one line."""

from pathlib import Path

import pytest

from axtrain_cli import knobs
from axtrain_cli.cli import config_dir
from axtrain_cli.errors import ConfigError
from axtrain_cli.methods import NAMES, module
from axtrain_cli.pipeline import validate

GROUPS = ["dataset", "topology", "method", "knobs", "hardware"]


def options(group):
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes_and_validates(group, tmp_path):
    from axtrain_cli.cli.compose import settings_of as compose

    opts = options(group)
    assert opts, group
    import numpy as np
    from conftest import make_cifar

    table = tmp_path / "mine.csv"  # dataset=csv reads a file of the user's
    table.write_text("".join(f"{i % 3},{i % 5},{'ab'[i % 2]}\n" for i in range(20)))
    np.savez(tmp_path / "pics.npz", x=np.zeros((20, 1, 8, 8), np.uint8), y=np.arange(20) % 2)
    np.savez(tmp_path / "seqs.npz", x=np.zeros((20, 4, 16), np.float32), y=np.arange(20) % 2)
    data = {"csv": [f"dataset.path={table}"],  # the datasets that read files of yours
            "images": [f"dataset.path={tmp_path / 'pics.npz'}"],
            "cifar10": [f"dataset.path={make_cifar(tmp_path / 'c.tar.gz', 4, 4)}"],
            "kws": ["dataset=images", f"dataset.path={tmp_path / 'seqs.npz'}"]}
    zoo = {"resnet20", "vgg", "mobilenet", "vit"}  # networks of the zoo: on CIFAR-10
    partner = {"topology": lambda opt: (["dataset=cifar10", *data["cifar10"]] if opt in zoo
                                        else data["kws"] if opt == "kws"
                                        else [f"dataset={opt}", *data.get(opt, [])]),
               "dataset": lambda opt: data.get(opt, []),  # LeNet-5: 28 x 28 inputs
               "knobs": lambda opt: {"tables": ["hardware=fixed8"],  # 8-bit words
                                     "explore8": ["hardware=fixed8"],
                                     "mitchell": ["eval.knobs=[exact,K1]"]  # K1 only
                                     }.get(opt, [])}
    for opt in opts:
        cfg = compose([f"{group}={opt}", *partner.get(group, lambda o: [])(opt)])
        if group != "knobs":
            assert (getattr(cfg, group).name == opt or group == "topology"
                    or opt in ("csv", "images"))


def test_every_method_has_a_config_and_a_typed_schema(compose_cfg):
    assert options("method") == sorted(NAMES)
    for name in NAMES:
        m = compose_cfg([f"method={name}"]).method
        assert isinstance(m, module(name).Conf) and m.name == name


def test_dataset_picks_its_table1_topology(compose_cfg):
    expect = {"breast_cancer": "30-64-64-2", "image_seg": "19-64-64-7",
              "ionosphere": "34-50-50-2", "satimage": "36-64-64-7",
              "mnist_mlp": "784-128-128-10", "mnist_cnn": "LeNet-5"}
    for ds, topo in expect.items():
        cfg = compose_cfg([f"dataset={ds}"])
        assert cfg.topology.name == topo
    levels = {ds: dict(compose_cfg([f"dataset={ds}"]).dataset.levels) for ds in expect}
    assert levels["breast_cancer"] == {"aggressive": "ntv400", "conservative": "ntv660"}
    assert all(v == {"aggressive": "ntv660", "conservative": "ntv850"}
               for ds, v in levels.items() if ds != "breast_cancer")


def test_paper_knobs_resolve_to_the_papers_settings(compose_cfg):
    cfg = compose_cfg([])  # K1..K4 by the calibration (docs/reproduction.md)
    for name, k in {"K1": 2, "K2": 3, "K3": 4, "K4": 5}.items():
        knob = knobs.resolve(name, cfg)
        assert knob.domain == "compute" and knob.multiplier.k == k
    published = compose_cfg(["knobs=drum_published"])  # the DRUM authors' designs
    assert [knobs.resolve(f"K{i}", published).multiplier.k for i in (1, 2, 3, 4)] == [4, 5, 6, 7]
    assert cfg.hardware.weight_format == "fraction"  # the paper's reading of its weight word
    for name, (mv, p) in {"ntv400": (400, 0.1), "ntv660": (660, 0.01),
                          "ntv850": (850, 0.001)}.items():
        knob = knobs.resolve(name, cfg)
        assert knob.domain == "storage" and (knob.memory.voltage_mv, knob.memory.rate) == (mv, p)
    assert knobs.resolve("aggressive", cfg).name == "ntv400"  # breast cancer: 400 mV
    assert knobs.resolve("exact", cfg).domain == "exact"
    assert knobs.resolve("float", cfg).domain == "float"


def test_mitchell_knob_set_has_mitchell_in_k1_and_the_papers_memories(compose_cfg):
    cfg, paper = compose_cfg(["knobs=mitchell"]), compose_cfg([])
    assert knobs.resolve("K1", cfg).multiplier.name == "mitchell"
    assert "K2" not in cfg.knobs  # one design: no k to step through
    for name in ("exact", "ntv400", "ntv660", "ntv850"):
        assert knobs.resolve(name, cfg) == knobs.resolve(name, paper)


@pytest.mark.parametrize("override,key", [
    ("train.epochs=0", "train.epochs"),
    ("train.lr=0", "train.lr"),
    ("train.lr=-1e-3", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("dataset.test_size=1.0", "dataset.test_size"),
    ("dataset.test_size=0", "dataset.test_size"),
    ("hardware.bits=40", "hardware.bits"),
    ("hardware.nominal_mv=0", "hardware.nominal_mv"),
    ("knobs.K1.multiplier.k=1", "knobs.K1.multiplier.k"),
    ("knobs.K1.multiplier.k=16", "knobs.K1.multiplier.k"),
    ("knobs.K1.multiplier.name=wallace", "knobs.K1.multiplier.name"),
    ("+knobs.K1.multiplier.bits=3", "knobs.K1.multiplier.bits"),
    ("~knobs.K1.multiplier.k", "knobs.K1.multiplier.k"),
    ("knobs.ntv660.memory.rate=1.5", "knobs.ntv660.memory.rate"),
    ("knobs.ntv660.memory.voltage_mv=-5", "knobs.ntv660.memory.voltage_mv"),
    ("+knobs.exact.multiplier={name:drum,k:4}", "knobs.exact"),
    ("dataset.levels.aggressive=ntv500", "dataset.levels.aggressive"),
    ("eval.knobs=[exact,K9]", "eval.knobs"),
    ("train.optimizer=rmsprop", "train.optimizer"),
    ("train.lr=inf", "train.lr"),
    ("train.lr=1e30", "train.lr"),
    ("train.lr=nan", "train.lr"),
    ("train.momentum=-0.5", "train.momentum"),
    ("eval.knobs=[]", "eval.knobs"),
    ("eval.knobs=[exact,K1,K1]", "eval.knobs"),
    ("seed=-1", "seed"),
    ("seed=4294967296", "seed"),
    ("topology.hidden=[64,0]", "topology.hidden.1"),
    ("topology.hidden_activation=tanh", "topology.hidden_activation"),
    ("topology.output_activation=linear", "topology.output_activation"),
    ("topology=mnist_cnn", "dataset.input_shape"),
    ("hardware.calibration=test", "hardware.calibration"),
    ("dataset.labels=[a,a]", "dataset.labels"),
    ("hardware.nominal_mv=inf", "hardware.nominal_mv"),
    ("method=act method.delta_gamma=inf", "method.delta_gamma"),
    ("method=act method.error_bound=nan", "method.error_bound"),
    ("method=act method.outputs=some", "method.outputs"),
    ("method=act method.outputs=sampled method.sensitivity=batch_mean", "method.outputs"),
    ("method=axtrain method.outputs=sampled method.sensitivity=batch_mean", "method.outputs"),
    ("method=axnn method.alpha=inf", "method.alpha"),
    ("method=axnn method.constraints=[]", "method.constraints"),
    ("method=axnn method.constraints=[0.5,0.5]", "method.constraints"),
    ("knobs.ntv660.memory.voltage_mv=inf", "knobs.ntv660.memory.voltage_mv"),
    ("knobs.K1=null", "knobs.K1"),
    ("+knobs.float={multiplier:{name:drum,k:4}}", "knobs.float"),
    ("+knobs.aggressive={multiplier:{name:drum,k:4}}", "knobs.aggressive"),
    ("+dataset.levels.K1=ntv400", "knobs.K1"),
    ("eval.knobs=[aggressive,ntv400]", "eval.knobs"),
    ("topology.hidden=[10000000000]", "topology.hidden.0"),
    ("dataset.path=''", "dataset.path"),
    ("dataset.kind=mnist", "dataset.source"),
    ("dataset=ionosphere dataset.insert_zero_column=100", "dataset.insert_zero_column"),
    ("method=pas method.ste_clip=0", "method.ste_clip"),
    ("method=axtrain method.finetune_epochs=0", "method.finetune_epochs"),
    ("method=approxann method.act.delta_gamma=-1", "method.act.delta_gamma"),
    ("method=approxann method.checkpoint=/no/such/model.pt", "method.checkpoint"),
])
def test_out_of_range_values_name_the_key(compose_cfg, override, key):
    cfg = compose_cfg(override.split())
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    msg = str(e.value)
    assert msg.startswith(key) and "allowed" in msg and "\n" not in msg, msg


def test_a_knob_added_on_the_command_line_works_everywhere(compose_cfg):
    cfg = compose_cfg(["+knobs.ntv500={memory:{name:flips,voltage_mv:500,rate:0.05}}",
                       "+knobs.K0={multiplier:{name:drum,k:3}}", "dataset.levels.aggressive=ntv500",
                       "eval.knobs=[exact,K0,aggressive]", "method=pas",
                       "method.knob=K0"])
    validate(cfg)
    assert knobs.resolve("aggressive", cfg).memory.rate == 0.05
    assert knobs.resolve("K0", cfg).multiplier.k == 3


def test_a_method_key_of_another_method_is_refused_at_compose(compose_cfg):
    with pytest.raises(Exception, match="finetune_epochs"):
        compose_cfg(["method=pas", "method.finetune_epochs=3"])


@pytest.mark.parametrize("method", ["bp", "act", "pas", "axtrain", "approxann", "axnn"])
def test_every_method_composes_to_its_typed_schema(compose_cfg, method):
    """conf/method/<m>.yaml (with the baselines' nested act settings) merges into the
    method's Conf dataclass, as run() reads it."""
    m = compose_cfg([f"method={method}"]).method
    assert m.name == method and isinstance(m, module(method).Conf)
