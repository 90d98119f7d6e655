"""`axtrain resilience`: each predictor on a tiny network against a hand computation, the
injection of one neuron changes only that neuron, the command's outputs and errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli.knobs import EXACT, build
from axtrain_cli.networks import Network, calibrate, make_plan
from axtrain_cli.resilience import predictors as P
from axtrain_cli.resilience.injection import inject
from axtrain_cli.resilience.quality import correlations, protected_masks

from conftest import TINY, run_axtrain, run_cli


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.last = nn.Linear(5, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.last(torch.relu(self.first(x)))


def tiny():
    torch.manual_seed(0)
    model = Two()
    x = torch.randn(40, 5)
    y = torch.randint(0, 3, (40,))
    return model, Network(model, [5], 3, sample=x[:2]), x, y


class Three(nn.Module):
    """A ReLU layer, then a layer whose outputs reach the last one with both signs."""

    def __init__(self):
        super().__init__()
        self.first, self.mid, self.last = nn.Linear(5, 4), nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.last(self.mid(torch.relu(self.first(x))))


def lrp_reference(layers, acts, x, y, rule, eps=1e-6):
    """LRP written out layer by layer in plain tensor algebra (Montavon et al.'s rules) on
    Linear `layers` with the elementwise `acts` between them: R at the last layer's outputs
    = the label's logit; R_i = sum_j c_ij R_j / sum_i' c_i'j with c_ij = a_i w_ij (+ b_j and
    eps sign z_j in the denominator) for epsilon, and c_ij = (a_i w_ij)+ for z+ (LRP's
    alpha = 1, beta = 0 rule: a_i w+_ij where a_i >= 0). Relevance passes an activation
    unchanged. Returns mean |R| at each layer's outputs."""
    ws = [m.weight.detach() for m in layers]
    bs = [m.bias.detach() for m in layers]
    sums = [torch.zeros(len(b)) for b in bs]
    for xn, yn in zip(x, y):
        inputs, a = [], xn
        for k, (w, b) in enumerate(zip(ws, bs)):
            inputs.append(a)
            z = w @ a + b
            a = acts[k](z) if k < len(acts) else z
        r = torch.zeros(len(z))
        r[yn] = z[yn]
        for k in reversed(range(len(ws))):
            sums[k] += r.abs()
            a, w = inputs[k], ws[k]
            if rule == "epsilon":
                z = w @ a + bs[k]
                c, den = w * a, z + eps * torch.where(z >= 0, 1.0, -1.0)
            else:
                c = (w * a).clamp(min=0)
                den = c.sum(dim=1) + eps
            r = (c * (r / den)[:, None]).sum(dim=0)
    return [v / len(x) for v in sums]


@pytest.mark.parametrize("rule", ["epsilon", "zplus"])
def test_lrp_equals_the_rules_written_out_layer_by_layer(rule):
    model, net, x, y = tiny()
    got = P.lrp(net, x, y, rule)
    want = lrp_reference([model.first, model.last], [torch.relu], x, y, rule)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-6)
    torch.manual_seed(1)  # a layer whose inputs take both signs
    model = Three()
    net = Network(model, [5], 3, sample=x[:2])
    got = P.lrp(net, x, y, rule)
    want = lrp_reference([model.first, model.mid, model.last], [torch.relu, lambda z: z],
                         x, y, rule)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-6), (g, w)


def test_gradient_activation_and_sensitivity_predictors_against_autograd_by_hand():
    model, net, x, y = tiny()
    exact = make_plan(net, EXACT, 16, calibrate(net, x, 16))
    s = P.scores(net, x, y, exact, "mse", 3, seed=0)
    # ApproxANN: mean |dE/dy_j| through exact fixed point, per sample (the STE's gradient)
    outs = {}
    z = net.logits(x, exact, ste=True, observe=lambda i, a, o: outs.__setitem__(i, o))
    from axtrain_cli.training import loss_per_sample

    g = torch.autograd.grad(loss_per_sample(z, y, "mse", 3).sum(), [outs[0], outs[1]])
    for i in range(2):
        assert torch.allclose(s["approxann"][i], g[i].abs().mean(0), rtol=1e-5)
        assert torch.allclose(s["axnn"][i], s["approxann"][i] / s["approxann"][i].mean())
    a1 = model.first(x)
    assert torch.allclose(s["activation"][0], a1.abs().mean(0).detach(), rtol=1e-5)
    # AxTrain's S(w) share: sum over a neuron's weights of |w| mean_n sum_k |dO_k/dw|, O the
    # sigmoid outputs: dO_k/dw_kj = sigmoid'(z_k) h_j for the last layer's row k
    w2 = model.last.weight.detach()
    h = torch.relu(a1).detach()
    o = torch.sigmoid(model(x)).detach()
    d = (o * (1 - o))[:, :, None] * h[:, None, :]
    sens_last = (w2.abs() * d.abs().mean(0)).sum(1)
    assert torch.allclose(s["sensitivity"][1], sens_last, rtol=1e-5)
    assert set(s) == set(P.PREDICTORS) and s["random"][0].shape == (4,)


def test_injecting_one_neuron_changes_only_that_neurons_output():
    model, net, x, y = tiny()
    ranges = calibrate(net, x, 8)
    exact = make_plan(net, EXACT, 8, ranges)
    approx = make_plan(net, build("t", {"multiplier": {"name": "truncation", "k": 2}}, 8), 8,
                       ranges)
    seen = {}

    def observe(i, a, o):
        seen.setdefault(i, []).append(o.detach())

    from axtrain_cli.resilience.injection import InjectPlan, _by_multiplier

    plan = InjectPlan(bits=8, multiplier=exact.multiplier, weights=exact.weights,
                      weight_fl=exact.weight_fl, biases=exact.biases, ranges=ranges)
    plan.target, plan.copies, plan.change = 0, 2, _by_multiplier(net.units[0], approx, 0, 2,
                                                                 [1, 3])
    net.logits(x.repeat(2, 1), plan, observe=observe)
    base = net.logits(x, exact, observe=lambda i, a, o: seen.setdefault(("exact", i), o))
    assert base is not None
    out = seen[0][0].view(2, len(x), 4)
    ref = seen["exact", 0]
    for copy, j in enumerate([1, 3]):
        changed = (out[copy] != ref).any(0)
        assert changed.tolist() == [k == j for k in range(4)]
    # flips at rate 1 (every bit of the row): the batched difference path equals the layer
    # run on the flipped row's words
    lo, ac = inject(net, x, y, exact, None, 1, [2], "mse", 3, rate=1.0, reads=1,
                    generator=torch.Generator().manual_seed(0))
    words = torch.round(exact.weights[1] * 2.0 ** exact.weight_fl[1]).long()
    flipped = words.clone()
    flipped[2] = hw.flip_bits(words[2], 1.0, 8, torch.Generator())
    by_hand = make_plan(net, EXACT, 8, ranges)
    by_hand.weights[1] = flipped.float() * 2.0 ** -exact.weight_fl[1]
    z = net.logits(x, by_hand)
    from axtrain_cli.training import loss_per_sample

    assert float(lo[0]) == pytest.approx(float(loss_per_sample(z, y, "mse", 3).mean()), rel=1e-5)
    assert float(ac[0]) == pytest.approx(float((z.argmax(-1) == y).float().mean()))


def test_correlations_and_protected_masks():
    rng = np.random.default_rng(0)
    m = rng.normal(size=200)
    c = correlations(m + 0.1 * rng.normal(size=200), m, seed=0, resamples=200)
    assert c["spearman"] > 0.95 and c["spearman_lo"] <= c["spearman"] <= c["spearman_hi"]
    assert c["kendall_lo"] <= c["kendall"] <= c["kendall_hi"]
    masks = protected_masks([torch.tensor([3.0, 1.0]), torch.tensor([2.0, 0.0, 5.0])], 40)
    assert [m.tolist() for m in masks] == [[True, False], [False, False, True]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("resilience")
    r = run_cli([*TINY, "train.epochs=20", "eval.knobs=[exact]", f"hydra.run.dir={root / 'bp'}"],
                cwd=root)
    assert r.returncode == 0, r.stderr
    return root


def test_resilience_writes_every_neurons_scores_the_measured_faults_and_the_judgement(trained):
    out = trained / "rs"
    r = run_axtrain(["resilience", f"run={trained / 'bp'}", "validation=100", "reads=2",
                     "resamples=100", f"out={out}"], cwd=trained)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out / "resilience.csv")
    assert len(df) == 64 + 64 + 2 and set(P.PREDICTORS) <= set(df.columns)
    assert {"loss_increase_multiplier", "accuracy_drop_flips"} <= set(df.columns)
    judged = pd.read_csv(out / "predictors.csv")
    assert len(judged) == 2 * len(P.PREDICTORS) and judged.auc.between(0, 1).all()
    curves = pd.read_csv(out / "curves.csv")
    full = curves[curves.protected_pct == 100]
    assert full.groupby("fault").accuracy.nunique().eq(1).all()  # all protected: exact
    assert (out / "resilience.png").stat().st_size > 0
    assert json.loads((out / "resilience.json").read_text())["neurons_total"] == 130
    # the protection knobs: the top 25 % by LRP exact (or in reliable SRAM), measured and
    # costed by the sweep like any knob
    names = "protect_lrp_epsilon_25,shield_lrp_epsilon_25"
    r = run_axtrain(["eval", str(trained / "bp" / "model.pt"), f"hydra.searchpath=[file://{out}]",
                     "knobs=protected", f"eval.knobs=[exact,K1,ntv660,{names}]",
                     "eval.trials=3", f"hydra.run.dir={trained / 'ev'}", "progress=off"],
                    cwd=trained)
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(trained / "ev" / "results.csv").groupby("knob").mean(numeric_only=True)
    protect, shield = rows.loc["protect_lrp_epsilon_25"], rows.loc["shield_lrp_epsilon_25"]
    assert rows.loc["K1", "compute_power"] < protect.compute_power < 1
    assert rows.loc["ntv660", "storage_power"] < shield.storage_power < 1
    sampled = run_axtrain(["resilience", f"run={trained / 'bp'}", "validation=100",
                           "faults=flips", "predictors=lrp_epsilon,random", "sample=13",
                           "resamples=100", f"out={trained / 'rs2'}"], cwd=trained)
    assert sampled.returncode == 0, sampled.stderr
    df = pd.read_csv(trained / "rs2" / "resilience.csv")
    assert df.groupby("layer").size().to_dict() == {0: 6, 2: 6, 4: 1}  # stratified by layer


@pytest.mark.parametrize("args, words", [
    (["predictors=lrp,random"], "predictors='lrp,random' is out of range: allowed approxann"),
    (["sample=1000"], "sample=1000 is out of range: allowed at most the network's 130"),
    (["rate=1.5"], "rate=1.5 is out of range: allowed a flip probability in (0, 1]"),
    (["knob=ntv660"], "knob='ntv660' is not a compute knob"),
])
def test_bad_input_is_one_line_exit_2(trained, args, words):
    r = run_axtrain(["resilience", f"run={trained / 'bp'}", f"out={trained / 'bad'}", *args],
                    cwd=trained)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not (trained / "bad").exists()


def test_a_network_without_a_checkpoint_is_one_line(tmp_path):
    r = run_axtrain(["resilience", f"run={tmp_path}"], cwd=tmp_path)
    assert r.returncode == 2 and "no model.pt there" in r.stderr
