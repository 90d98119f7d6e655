"""The Python API (axtrain_cli.api): the README's example runs and writes the files
`axtrain train` writes for the same settings, byte for byte; `settings_for` composes what the
command line composes."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

import axtrain_cli as ax
from axtrain_cli.errors import ConfigError
from axtrain_cli.paper import DATASETS
from axtrain_cli.settings import ModelSpec, to_dict

METHODS = ["bp", "act", "pas", "axtrain", "approxann", "axnn"]


def readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"## From Python.*?```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_example_writes_what_the_command_writes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", readme_python()], capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    api = tmp_path / "runs" / "ionosphere_act"
    cli = tmp_path / "cli"
    c = run_cli(["dataset=ionosphere", "method=act", "train.epochs=20", f"hydra.run.dir={cli}"],
                cwd=tmp_path)
    assert c.returncode == 0, c.stderr[-3000:]
    for name in ("results.csv", "history.csv", "sensitivity_map.csv", "config.yaml"):
        assert (api / name).read_bytes() == (cli / name).read_bytes(), name
    assert (tmp_path / "runs" / "report" / "runs_summary.csv").is_file()


@pytest.mark.parametrize("dataset", DATASETS)
def test_settings_are_what_the_command_line_composes(dataset, compose_cfg):
    for method in METHODS:
        ours = to_dict(ax.settings_for(dataset, method))
        assert ours == to_dict(compose_cfg([f"dataset={dataset}", f"method={method}"])), method


def test_settings_take_changes_a_zoo_topology_and_a_class_of_yours(compose_cfg):
    s = ax.settings_for("mnist_cnn", {"name": "act", "outputs": "sampled"}, topology="vit",
                    train={"epochs": 3, "lr": 1}, eval={"trials": 4}, seed=2)
    want = compose_cfg(["dataset=mnist_cnn", "method=act", "method.outputs=sampled",
                        "topology=vit", "train.epochs=3", "train.lr=1", "eval.trials=4",
                        "seed=2"])
    assert to_dict(s) == to_dict(want) and s.train.lr == 1.0
    assert isinstance(s.topology, ModelSpec)
    net = ax.build_network(s)
    assert net.coverage.share > 0.99

    from torch import nn

    class Mine(nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            self.fc = nn.Linear(input_shape[0], n_classes)

        def forward(self, x):
            return self.fc(x)

    net = ax.build_network(ax.settings_for("ionosphere", topology=Mine))
    assert [u.name for u in net.units] == ["fc"]


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "nope"}, "dataset='nope' is unknown: allowed one of"),
    ({"method": "axtran"}, "did you mean axtrain"),
    ({"train": {"epochs": 0}}, "train.epochs=0 is out of range"),
    ({"train": {"epoch": 3}}, "train.epoch: unknown key (did you mean epochs?)"),
    ({"train": {"lr": "fast"}}, "train.lr='fast' is not a number"),
    ({"seed": True}, "seed=True is not an integer"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    args = {"dataset": "ionosphere", **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        ax.settings_for(**args)


def test_importing_the_package_imports_no_torch():
    code = ("import sys, axtrain_cli, axtrain_cli.settings; "
            "assert 'torch' not in sys.modules and 'hydra' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_api_names_stay_functions_once_every_subpackage_is_imported():
    """A subpackage named like an API function would replace it on the package once
    imported (`ax.run` the module, not the function); the same within each package."""
    import importlib
    import pkgutil

    import axtrain_cli as ax
    from axtrain_cli import api

    for m in pkgutil.iter_modules(ax.__path__, "axtrain_cli."):
        if m.name != "axtrain_cli.__main__":
            importlib.import_module(m.name)
    for name in api.__all__:
        assert getattr(ax, name) is getattr(api, name), name
    # and no package exports a name of one of its modules (`from pkg import mod` would
    # give the function)
    for m in pkgutil.walk_packages(ax.__path__, "axtrain_cli."):
        if m.ispkg:
            package = importlib.import_module(m.name)
            for sub in pkgutil.iter_modules(package.__path__):
                assert isinstance(getattr(package, sub.name, package), type(ax)), \
                    f"{m.name}.{sub.name}"


def test_settings_take_dataset_changes_and_knobs_of_ones_own():
    import axtrain_cli as ax

    s = ax.settings_for({"name": "mnist_cnn", "max_train": 100}, {"name": "pas", "knob": "m"},
                        knobs={"m": {"multiplier": {"name": "mitchell"}}}, hardware="fixed8")
    assert (s.dataset.name, s.dataset.max_train, s.method.knob) == ("mnist_cnn", 100, "m")
    assert {"K1", "m"} <= set(s.knobs) and s.topology.name == "LeNet-5"


def test_a_shipped_knob_set_brings_the_sets_its_defaults_name():
    s = ax.settings_for("breast_cancer", "bp", knobs="library")
    assert {"exact", "K1", "ntv660", "trunc4", "mitchell"} <= set(s.knobs)
    assert "defaults" not in s.knobs
