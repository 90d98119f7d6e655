"""Any PyTorch network: the README's own network from files outside the package through
every method, the sweep and the report; the general path's hardware numbers against
their definitions (BatchNorm folding, batched trials, the sensitivity of Eq. 5 on a
residual network against a brute-force per-sample computation); bad networks and bad
CIFAR-10 archives as one-line errors."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, make_cifar, run_cli
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli.evaluation.sensitivity import network_sensitivity
from axtrain_cli.knobs import Knob
from axtrain_cli.networks import Network, calibrate, make_plan

SMALL = ["train.epochs=1", "eval.trials=3", "progress=off", "dataset.max_test=40"]


def readme_network_files() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    body = text.split("## Add your own network\n", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", body, re.S):
        first, rest = block.split("\n", 1)
        files[first[2:].strip()] = rest
    return files


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return make_cifar(tmp_path_factory.mktemp("data") / "cifar-10-binary.tar.gz")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    files = readme_network_files()
    assert set(files) == {"my_net.py", "myconf/topology/tiny_resnet.yaml"}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.mark.regression
def test_the_readme_network_runs_every_method_the_sweep_and_the_report(user, cifar):
    """The README's files, from a folder of the user's: bp, act, pas, axtrain and approxann
    on a tiny CIFAR-10 archive, swept over exact, K1, K4 and 660 mV with trials, then the
    report's tables."""
    sweep = user / "sweep"
    common = ["-m", f"hydra.searchpath=[file://{user / 'myconf'}]", "topology=tiny_resnet",
              "dataset=cifar10", f"dataset.path={cifar}", *SMALL]
    sweep_knobs = "eval.knobs=[exact,K1,K4,ntv660]"
    for name, method in [("main", ["method=bp,act,pas", sweep_knobs]),
                         ("axtrain", ["method=axtrain", "method.finetune_epochs=1", sweep_knobs]),
                         ("approxann", ["method=approxann", "method.max_iterations=2",
                                        "eval.knobs=[exact]"])]:
        r = run_cli([*common, *method, f"hydra.sweep.dir={sweep / name}"], cwd=user,
                    env_extra={"PYTHONPATH": str(user)})
        assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.concat([pd.read_csv(f) for f in sweep.rglob("sweep_results.csv")])
    assert set(rows.method) == {"bp", "act", "pas", "axtrain", "approxann"}
    assert set(rows.topology) == {"TinyResNet"} and rows.arch.nunique() == 1
    ntv = rows[rows.knob == "ntv660"]
    assert (ntv.groupby("method").size() == 3).all() and len(ntv) == 12  # 3 reads each
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "report", str(sweep),
                        "--no-plots"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    fig6 = pd.read_csv(sweep / "report" / "fig6_multiplier_error.csv")
    assert {"K1", "K4"} <= set(fig6.knob) and {"bp", "act", "axtrain"} <= set(fig6.method)
    fig7 = pd.read_csv(sweep / "report" / "fig7_ntv_accuracy.csv")
    assert "ntv660" in set(fig7.knob)
    summary = pd.read_csv(sweep / "report" / "runs_summary.csv")
    assert "approxann_K1" in set(summary.knob)


@pytest.mark.regression
def test_resnet20_trains_axtrain_on_cifar10(cifar, tmp_path):
    """`axtrain train dataset=cifar10 topology=resnet20 method=axtrain dataset.path=...` on
    a tiny archive in the official format (shortened schedules)."""
    out = tmp_path / "run"
    r = run_cli(["dataset=cifar10", "topology=resnet20", "method=axtrain",
                 f"dataset.path={cifar}", "dataset.max_train=128", "method.finetune_epochs=1",
                 "eval.knobs=[exact,K1,ntv660]", *SMALL, f"hydra.run.dir={out}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.read_csv(out / "results.csv")
    assert set(rows.topology) == {"ResNet-20"} and set(rows.dataset) == {"cifar10"}
    assert set(rows.train_knob.dropna()) == {"K1", "ntv660"}
    hist = pd.read_csv(out / "history.csv")
    assert set(hist.phase) == {"act", "pas@K1", "pas@ntv660"}


def test_on_hardware_in_a_training_loop_of_ones_own(user):
    from my_net import TinyResNet

    from axtrain_cli import on_hardware

    torch.manual_seed(0)
    model = TinyResNet([3, 16, 16], 4)
    x, y = torch.randn(32, 3, 16, 16), torch.randint(0, 4, (32,))
    before = copy.deepcopy(model.state_dict())
    k1 = on_hardware(model, "K1", x)  # training mode: the STE reaches the model
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(k1(x), y).backward()
    opt.step()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    k1.eval()
    with torch.no_grad():
        out = k1(x)
    assert out.shape == (32, 4) and not torch.allclose(out, model.eval()(x))


# ----------------------------------------------------------------- numbers of the path
class Residual(nn.Module):
    """A residual network with BatchNorm, a depthwise and a strided, dilated conv."""

    def __init__(self, input_shape=(3, 12, 12), n_classes=5):
        super().__init__()
        self.c1 = nn.Conv2d(input_shape[0], 6, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(6)
        self.dw = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6)
        self.c2 = nn.Conv2d(6, 6, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 6 * 6, n_classes)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = x + F.relu(self.dw(x))
        return self.fc(F.relu(self.b2(self.c2(x))).flatten(1))


def residual_net(dtype=torch.float32) -> Network:
    torch.manual_seed(3)
    model = Residual()
    for bn in (model.b1, model.b2):  # running statistics of a trained network
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    return Network(model.to(dtype), [3, 12, 12], 5).eval()


def _op(u, a, w):
    """The layer's multiply-adds on a and w (no bias)."""
    if u.kind == "fc":
        return F.linear(a, w)
    return F.conv2d(a, w, None, *u.conv)


def test_batchnorm_is_folded_and_the_fixed_point_layer_stays_within_its_step():
    """Each folded conv-BatchNorm on exact fixed point (16 bits) matches the float conv and
    BatchNorm within the quantisation steps of its operands."""
    net = residual_net()
    assert [u.folded for u in net.units] == [True, False, True, False]
    x = torch.randn(8, 3, 12, 12)
    bits = 16
    ranges = calibrate(net, x, bits)
    act_fl = ranges.units
    plan = make_plan(net, Knob("exact", hw.Exact()), bits, ranges)
    seen = {}
    net.logits(x, observe=lambda i, a, z: seen.setdefault(i, (a, z)))
    for i, u in enumerate(net.units):
        a, z = seen[i]
        call = hw.LayerCall(u.kind, conv=u.conv or None)
        y = plan.layer(i, call, a)
        fw = plan.weight_fl[i]
        w = u.stored_weight.detach()
        # each product's error: a half step of the activation times |w|, plus |a| times a
        # half step of the weight (rounding to nearest); the bias's half step
        err = (_op(u, torch.full_like(a, 2.0 ** -(act_fl[i] + 1)), w.abs())
               + _op(u, a.abs(), torch.full_like(w, 2.0 ** -(fw + 1))))
        assert ((y - z).abs() <= err + 2.0 ** -(bits - 2) + 1e-6).all(), i
    # and the hardware network's outputs are the float ones within the sum of such steps
    assert torch.allclose(net.logits(x, plan), net.logits(x), atol=0.05)


def test_the_trials_of_a_memory_run_in_one_pass_and_match_one_at_a_time():
    net = residual_net()
    x = torch.randn(6, 3, 12, 12)
    ranges = calibrate(net, x, 16)
    knob = Knob("ntv", hw.Exact(), hw.Flips(voltage_mv=660.0, rate=0.02))
    plan = make_plan(net, knob, 16, ranges, trials=4, generator=torch.Generator().manual_seed(1))
    z = net.logits(x, plan)
    assert z.shape == (4, 6, 5)
    for t in range(4):
        one = copy.copy(plan)
        one.trials, one.weights, one.biases = None, [w[t] for w in plan.weights], \
            [b[t] for b in plan.biases]
        # the same products; a grouped convolution may sum them in another order (float32
        # sums of terms up to about 1: differences of a few 1e-6)
        assert torch.allclose(net.logits(x, one), z[t], rtol=0, atol=1e-5), t
    assert not torch.equal(z[0], z[1])


def brute_force_sensitivity(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eq. 5 per sample, by autograd one sample and one output at a time: for every
    compute layer, |W| * sum over positions of |dO_k/dz(p)| |a(p)| (the conv weight untied
    per position), summed over layers and outputs, averaged over samples."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total = x.new_zeros(())
    for n in range(len(x)):
        seen = {}
        hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(m, (i[0], o)))
                 for m in layers]
        out = torch.sigmoid(model(x[n:n + 1]))[0]
        for h in hooks:
            h.remove()
        for k in range(len(out)):
            grads = torch.autograd.grad(out[k], [seen[m][1] for m in layers], create_graph=True)
            for m, d in zip(layers, grads):
                a = seen[m][0]
                if isinstance(m, nn.Linear):
                    total = total + (m.weight.abs() * (d.abs().T @ a.abs())).sum()
                    continue
                g, ci = m.groups, m.in_channels // m.groups
                co = m.out_channels // g
                for o in range(m.out_channels):
                    grp = o // co
                    cols = F.unfold(a[:, grp * ci:(grp + 1) * ci].abs(), m.kernel_size,
                                    m.dilation, m.padding, m.stride)[0]  # (ci*kh*kw, P)
                    s = cols @ d[0, o].abs().reshape(-1)
                    total = total + (m.weight[o].abs().reshape(-1) * s).sum()
    return total / len(x)


def test_the_sensitivity_on_a_residual_network_equals_a_brute_force_per_sample_one():
    """Value and gradient of S(w), BatchNorm folded (running statistics, per sample
    exact), a depthwise dilated conv and a residual branch."""
    net = residual_net(torch.float64)
    x = torch.randn(3, 3, 12, 12, dtype=torch.float64)
    ours = network_sensitivity(net, x)
    theirs = brute_force_sensitivity(net.model, x)
    assert torch.allclose(ours, theirs, rtol=1e-9), (ours, theirs)
    params = [p for p in net.model.parameters() if p.requires_grad]
    g1 = torch.autograd.grad(ours, params, allow_unused=True)
    g2 = torch.autograd.grad(theirs, params, allow_unused=True)
    for p, a, b in zip(params, g1, g2):
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-12)


# -------------------------------------------------------------------------- bad input
class NoCompute(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.n = n_classes

    def forward(self, x):
        return x.flatten(1)[:, :self.n]


class Wide(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.fc = nn.Linear(30, n_classes + 1)

    def forward(self, x):
        return self.fc(x)


class Wrong(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.fc = nn.Linear(7, n_classes)

    def forward(self, x):
        return self.fc(x)


class NotAModule:
    def __init__(self, input_shape, n_classes):
        pass


@pytest.mark.parametrize("target,extra,words", [
    ("no_such_module.Net", [], ["cannot import no_such_module"]),
    ("test_networks.NotAModule", [], ["is not a torch.nn.Module class"]),
    ("test_networks.Wide", ["+topology.depth=3"], ["takes no argument 'depth'"]),
    ("test_networks.NoCompute", [], ["has no product with a stored weight"]),
    ("test_networks.Wide", [], ["gives 3 outputs", "2 classes"]),
    ("test_networks.Wrong", [], ["does not run on inputs of shape [30]"]),
])
def test_a_network_that_cannot_run_is_one_line_before_any_work(tmp_path, target, extra, words):
    r = run_cli(["topology=mnist_mlp", f"+topology._target_={target}", *extra,
                 "~topology.kind", "~topology.hidden", "~topology.hidden_activation",
                 f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path,
                env_extra={"PYTHONPATH": str(ROOT / "tests")})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert not (tmp_path / "r" / "results.csv").exists()


@pytest.mark.parametrize("kind,words", [
    ("record", ["not a whole number of 3073-byte records"]),
    ("label", ["has label 12", "allowed 0..9"]),
    ("truncated", ["not a readable tar archive"]),
    ("pickle", ["refusing to unpickle"]),
])
def test_a_bad_cifar_archive_is_one_line(tmp_path, kind, words):
    import io
    import tarfile

    path = tmp_path / "cifar-10-binary.tar.gz"
    if kind == "record":
        make_cifar(path, record=3072)
    elif kind == "label":
        make_cifar(path, label_max=12, seed=1)
    elif kind == "truncated":
        make_cifar(path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"\x80\x04N."))
    r = run_cli(["dataset=cifar10", f"dataset.path={path}", "progress=off",
                 f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_an_npz_of_images_names_and_sizes_itself(tmp_path):
    import numpy as np

    from axtrain_cli.cli.compose import settings_of as compose

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "shapes.npz", x=rng.integers(0, 256, (40, 1, 10, 10), dtype=np.uint8),
             y=np.arange(40) % 4)
    cfg = compose(["dataset=images", f"dataset.path={tmp_path / 'shapes.npz'}"])
    assert (cfg.dataset.name, list(cfg.dataset.input_shape), cfg.dataset.n_classes) == \
        ("shapes", [1, 10, 10], 4)


class NoLogits(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.fc = nn.Linear(30, n_classes)

    def forward(self, x):
        return {"scores": self.fc(x)}


class WithLSTM(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(6, 16, batch_first=True), nn.Linear(16, n_classes)

    def forward(self, x):
        return self.fc(self.lstm(x.view(len(x), 5, 6))[0][:, -1])


@pytest.mark.parametrize("target,extra,words", [
    ("test_networks.NoLogits", [], ["returns dict", "allowed a tensor of logits"]),
    ("test_networks.WithLSTM", [], ["runs lstm (nn.LSTM)", "hardware.unsupported=float"]),
    ("test_networks.WithLSTM", ["hardware.unsupported=float", "hardware.min_coverage=0.99"],
     ["hardware.min_coverage=0.99", "in float: lstm (nn.LSTM)"]),
])
def test_what_cannot_run_on_the_hardware_is_one_line(tmp_path, target, extra, words):
    r = run_cli(["topology=breast_cancer", f"+topology._target_={target}", *extra,
                 "~topology.kind", "~topology.hidden", "~topology.hidden_activation",
                 f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path,
                env_extra={"PYTHONPATH": str(ROOT / "tests")})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_a_share_below_99_percent_is_a_warning_naming_what_runs_in_float(tmp_path):
    r = run_cli(["topology=breast_cancer", "+topology._target_=test_networks.WithLSTM",
                 "~topology.kind", "~topology.hidden", "~topology.hidden_activation",
                 "hardware.unsupported=float", "train.epochs=1", "eval.knobs=[exact,K1]",
                 "progress=off", f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path,
                env_extra={"PYTHONPATH": str(ROOT / "tests")})
    assert r.returncode == 0, r.stderr[-2000:]
    log = (tmp_path / "r" / "cli.log").read_text()
    assert "run on the hardware models; the largest parts in float: lstm (nn.LSTM)" in log
    share = pd.read_csv(tmp_path / "r" / "results.csv").hw_mac_share
    assert share.nunique() == 1 and 0 < share.iloc[0] < 0.99


def test_the_plan_is_prepared_once_while_the_weights_do_not_change(monkeypatch):
    """on_hardware reads and prepares the words once per knob; an optimiser step (the
    weights change) prepares them again; a stochastic memory reads afresh at every call."""
    from axtrain_cli import on_hardware
    from axtrain_cli.networks import onhw

    made = []
    real = onhw.make_plan
    monkeypatch.setattr(onhw, "make_plan", lambda *a, **k: made.append(1) or real(*a, **k))
    net = residual_net()
    x = torch.randn(4, 3, 12, 12)
    k1 = on_hardware(net.model, "K1", x).eval()
    with torch.no_grad():
        k1(x), k1(x), k1(x)
    assert len(made) == 1
    with torch.no_grad():
        net.model.fc.weight.mul_(0.5)
        k1(x)
    assert len(made) == 2
    ntv = on_hardware(net.model, "ntv660", x).eval()
    with torch.no_grad():
        ntv(x), ntv(x)
    assert len(made) == 4


TOKENS = '''"""Tokens: a linear patch embedding on (N, 16, 6) sequences, in-place ReLUs, dropout."""
import torch.nn.functional as F
from torch import nn


class TokenNet(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.embed = nn.Linear(6, 16)
        self.mix = nn.Linear(16, 16)
        self.act, self.drop = nn.ReLU(inplace=True), nn.Dropout(0.2)
        self.head = nn.Linear(16, n_classes)

    def forward(self, x):
        h = self.drop(self.act(self.embed(x.view(len(x), 5, 6))))
        return self.head(self.act(self.mix(h)).mean(1))
'''


@pytest.mark.regression
def test_act_and_pas_train_a_network_with_in_place_relu_dropout_and_tokens(tmp_path):
    (tmp_path / "tokens.py").write_text(TOKENS)
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "method=act,pas", "+topology._target_=tokens.TokenNet",
                 "~topology.kind", "~topology.hidden", "~topology.hidden_activation",
                 "train.epochs=2", "eval.trials=2", "eval.knobs=[exact,K1,ntv660]",
                 "progress=off", f"hydra.sweep.dir={sweep}"], cwd=tmp_path,
                env_extra={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pd.concat(pd.read_csv(f) for f in sweep.rglob("results.csv"))
    assert set(rows.method) == {"act", "pas"} and (rows.hw_mac_share == 1.0).all()
    assert rows.sensitivity.notna().all() and (rows.sensitivity > 0).all()
    r = subprocess.run([sys.executable, "-m", "axtrain_cli.cli", "report", str(sweep),
                        "--no-plots"], capture_output=True, text=True)
    assert r.returncode == 0 and "report: 2 runs" in r.stdout, r.stderr
    summary = pd.read_csv(sweep / "report" / "runs_summary.csv")
    assert set(summary.method) == {"act", "pas"}
