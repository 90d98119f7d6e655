"""method.gradient: each estimator's gradients on a small layer against a reference in plain
Python (the multiplier's plain-integer products, smoothed and differenced or fitted with
lists), on every multiplier path (a separable transform at 8 and 16 bits, a product table,
a non-separable model at 8 bits); the STE unchanged; bad settings one line."""

from __future__ import annotations

from itertools import accumulate

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, run_cli
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli import on_hardware as ax_on_hardware
from axtrain_cli.hardware import gradients as G
from axtrain_cli.knobs import Knob
from axtrain_cli.networks import build_network, make_plan


def ref_difference(values: list[float], half: int) -> list[float]:
    """Moving average of half-width min(half, distance to either end), then central
    differences; the ends take (last - first) / (n - 1)."""
    n, c = len(values), [0.0, *accumulate(values)]
    s = []
    for v in range(n):
        h = min(half, v, n - 1 - v)
        s.append((c[v + h + 1] - c[v - h]) / (2 * h + 1))
    edge = (s[-1] - s[0]) / (n - 1)
    return [edge, *[(s[v + 1] - s[v - 1]) / 2 for v in range(1, n - 1)], edge]


def ref_slope(values: list[float]) -> float:
    n = len(values)
    ma, mp = (n - 1) / 2, sum(values) / n
    return (sum((a - ma) * (p - mp) for a, p in enumerate(values))
            / sum((a - ma) ** 2 for a in range(n)))


def ref_tables(m, name: str, bits: int, window: int):
    """(da, db): functions (a, b) -> dP/da and dP/db of the estimator, in plain Python."""
    lo, n = -(1 << (bits - 1)), 1 << bits
    half = window << max(0, bits - 8)
    if isinstance(m, hw.SeparableMultiplier):  # P = T(a) T(b): T over every word
        t = [m.reference_transform(lo + i) for i in range(n)]
        d = ref_difference(t, half) if name == "difference" else [ref_slope(t)] * n
        return (lambda a, b: d[a - lo] * t[b - lo]), (lambda a, b: t[a - lo] * d[b - lo])
    p = [[m.reference(lo + i, lo + j) for j in range(n)] for i in range(n)]
    cols = [[p[i][j] for i in range(n)] for j in range(n)]  # along a, per b
    if name == "slope":
        sa, sb = [ref_slope(c) for c in cols], [ref_slope(r) for r in p]
        return (lambda a, b: sa[b - lo]), (lambda a, b: sb[a - lo])
    da = [ref_difference(c, half) for c in cols]  # da[b][a]
    db = [ref_difference(r, half) for r in p]  # db[a][b]
    return (lambda a, b: da[b - lo][a - lo]), (lambda a, b: db[a - lo][b - lo])


def ref_grads(m, name, bits, window, x, w, g, fl, w_fl):
    """dL/dx and dL/dw of y = x w^T (words' products) for dL/dy = g, in plain Python."""
    da, db = ref_tables(m, name, bits, window)
    qx = hw.quantize(x, fl, bits).long().tolist()
    qw = hw.quantize(w, w_fl, bits).long().tolist()
    g = g.tolist()
    n, o, k = len(qx), len(qw), len(qx[0])
    gx = [[sum(g[r][i] * da(qx[r][j], qw[i][j]) for i in range(o)) * 2.0**-w_fl
           for j in range(k)] for r in range(n)]
    gw = [[sum(g[r][i] * db(qx[r][j], qw[i][j]) for r in range(n)) * 2.0**-fl
           for j in range(k)] for i in range(o)]
    return torch.tensor(gx, dtype=torch.float64), torch.tensor(gw, dtype=torch.float64)


CASES = [(hw.Drum(k=2), 8), (hw.Drum(k=3), 16), (hw.Truncation(k=3), 8),
         (hw.Table("drum4_u8", signed=False), 8), (hw.Mitchell(), 8),
         (hw.Table("mitchell_s8"), 8)]


@pytest.mark.parametrize("name", ["difference", "slope"])
@pytest.mark.parametrize("m,bits", CASES, ids=[f"{m.label}-{b}" for m, b in CASES])
def test_the_gradients_equal_the_plain_python_reference(m, bits, name, monkeypatch):
    """The surrogate's autograd gradients on a Linear layer equal the reference (a
    non-separable table's difference with every SVD term kept; the kept terms' residual
    is checked below)."""
    monkeypatch.setattr(G, "MAX_RANK", 1 << bits)
    monkeypatch.setattr(G, "RESIDUAL", 0.0)
    window = 3
    r = G.rule(m, name, bits, window)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64).requires_grad_()
    w = (torch.randn(3, 7, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    b = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()
    fl, w_fl = bits - 3, bits - 1
    out = G.surrogate(r, x, w, b, fl, w_fl, lambda x_, w_, b_: F.linear(x_, w_, b_))
    dy = torch.randn(5, 3, generator=g, dtype=torch.float64)
    out.backward(dy)
    gx, gw = ref_grads(m, name, bits, window, x.detach(), w.detach(), dy, fl, w_fl)
    scale = max(float(gx.abs().max()), float(gw.abs().max()))
    assert torch.allclose(x.grad, gx, rtol=1e-4, atol=1e-5 * scale)
    assert torch.allclose(w.grad, gw, rtol=1e-4, atol=1e-5 * scale)
    assert torch.equal(b.grad, dy.sum(0))  # the bias: once


def test_a_tables_difference_keeps_the_svd_terms_within_its_residual():
    r = G.rule(hw.Mitchell(), "difference", 8, 4)
    table = hw.Mitchell().products(torch.arange(-128, 128)[:, None],
                                   torch.arange(-128, 128)[None, :]).double()
    d = G.smooth_difference(table, 4, 0)
    kept = sum(torch.outer(t.gate.double(), t.value.double()) for t in r.da)
    residual = float((d - kept).norm() / d.norm())
    assert len(r.da) <= G.MAX_RANK and residual <= G.RESIDUAL + 1e-6
    assert f"{residual:.2%}" in r.note


def test_on_the_exact_multiplier_every_estimator_is_the_ste():
    assert all(G.rule(hw.Exact(), n, 16, 4) is None for n in G.GRADIENTS)
    assert G.rule(hw.Drum(k=2), "ste", 16, 4) is None
    # the difference of a straight line is its slope, at the ends too
    t = torch.arange(-128, 128, dtype=torch.float64) * 3
    assert torch.allclose(G.smooth_difference(t, 5), torch.full_like(t, 3.0))
    assert torch.allclose(G.ls_slope(t), torch.tensor(3.0, dtype=torch.float64))


@pytest.mark.parametrize("name", ["difference", "slope"])
def test_a_network_trains_through_the_rule_on_every_product(name):
    """Linear, Conv2d (with a folded BatchNorm) and einsum on a parameter: the rule's
    gradient reaches every parameter and differs from the STE's; the forward pass is the
    hardware's whatever the rule."""

    class Net(nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, bias=False)
            self.bn = nn.BatchNorm2d(4)
            self.proj = nn.Parameter(torch.randn(4, 6) * 0.3)
            self.head = nn.Linear(6, n_classes)

        def forward(self, x):
            z = F.relu(self.bn(self.conv(x))).mean((2, 3))
            return self.head(torch.einsum("nc,cd->nd", z, self.proj))

    torch.manual_seed(0)
    net = build_network(Net([1, 6, 6], 3), [1, 6, 6], 3)
    knob = Knob("K", hw.Drum(k=2))
    x = torch.randn(8, 1, 6, 6)
    plans = {n: make_plan(net, knob, 8, None, gradient=n, gradient_window=2)
             for n in ("ste", name)}
    grads, outs = {}, {}
    for n, plan in plans.items():
        net.zero_grad()
        out = net.logits(x, plan, ste=True)
        out.square().sum().backward()
        outs[n] = out.detach()
        grads[n] = {k: p.grad.clone() for k, p in net.named_parameters()}
    assert torch.equal(outs["ste"], outs[name])  # the forward pass is the hardware's
    assert all(g.abs().sum() > 0 for g in grads[name].values())
    assert any(not torch.allclose(grads["ste"][k], grads[name][k]) for k in grads[name])


def test_bad_gradient_settings_are_one_line_before_training(tmp_path):
    for args, message in (
            (["method.gradient=smooth"], "method.gradient='smooth' is unknown: allowed one of ste, "
                                         "difference, slope"),
            (["method.gradient_window=0"], "method.gradient_window=0 is out of range"),
            (["method.gradient_window=128"], "method.gradient_window=128 is out of range"),
            (["method.gradient=slope", "'+knobs.m={multiplier:{name:mitchell}}'",
              "method.knob=m"], "cannot run on mitchell")):
        r = run_cli([*TINY, "method=pas", *[a.strip("'") for a in args]], cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


def test_on_hardware_trains_through_the_rule_and_refuses_what_it_cannot_give():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(16, 6)
    grads = {}
    for name in ("ste", "slope"):
        hw_model = ax_on_hardware(model, {"multiplier": {"name": "mitchell"}}, x, bits=8,
                                  gradient=name).train()
        model.zero_grad()
        hw_model(x).square().sum().backward()
        grads[name] = model[0].weight.grad.clone()
    assert not torch.allclose(grads["ste"], grads["slope"])
    with pytest.raises(ValueError, match="cannot run on mitchell"):
        ax_on_hardware(model, {"multiplier": {"name": "mitchell"}}, x, bits=16,
                       gradient="difference")


def test_approxann_retrains_its_approximate_neurons_through_the_rule(tmp_path):
    """A mixed plan: the rule's gradient for the neurons on the approximate multiplier,
    the exact product's for the others (a unit with no approximate neuron: the STE's)."""
    from axtrain_cli.methods.approxann import mixed_plan

    torch.manual_seed(0)
    net = build_network(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), [6], 3)
    knob = Knob("K", hw.Mitchell())
    x = torch.randn(16, 6)
    masks = [torch.tensor([True, False, True, False, False]), torch.zeros(3, dtype=torch.bool)]
    grads = {}
    for name in ("ste", "slope"):
        net.zero_grad()
        net.logits(x, mixed_plan(net, knob, 8, None, masks, gradient=name), ste=True) \
            .square().sum().backward()
        grads[name] = [u.weight.grad.clone() for u in net.units]
    first, second = grads["ste"][0], grads["slope"][0]
    assert not torch.allclose(first[masks[0]], second[masks[0]])  # approximate rows
    assert torch.equal(first[~masks[0]], second[~masks[0]])  # exact rows: the STE's


def test_pas_from_the_command_line_logs_its_backward_pass(tmp_path):
    r = run_cli([*TINY, "method=pas", "hardware=fixed8", "method.gradient=difference",
                 "'+knobs.m={multiplier:{name:mitchell}}'".strip("'"), "method.knob=m",
                 "eval.knobs=[exact,m]", f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "r" / "cli.log").read_text()
    assert "backward by method.gradient=difference (the difference tables' SVD, rank" in log


def test_a_rule_with_more_terms_one_way_than_the_other():
    """dP/da of two terms, dP/db of one: the surrogate's gradients are the sums."""
    g = torch.Generator().manual_seed(3)
    u1, u2, v1, v2, p1, q1 = (torch.randn(16, generator=g, dtype=torch.float64)
                              for _ in range(6))
    r = G.Rule("difference", 4, (G.Term(u1, v1), G.Term(u2, v2)), (G.Term(q1, p1),))
    x = torch.randn(3, 5, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(2, 5, generator=g, dtype=torch.float64).requires_grad_()
    fl = w_fl = 1
    G.surrogate(r, x, w, None, fl, w_fl, lambda x_, w_, b_: F.linear(x_, w_, b_)).backward(
        dy := torch.randn(3, 2, generator=g, dtype=torch.float64))
    ix = hw.quantize(x.detach(), fl, 4).long() + 8
    iw = hw.quantize(w.detach(), w_fl, 4).long() + 8
    gx = sum(u[ix] * (dy @ (v[iw] * 2.0**-w_fl)) for u, v in ((u1, v1), (u2, v2)))
    gw = q1[iw] * (dy.T @ (p1[ix] * 2.0**-fl))
    assert torch.allclose(x.grad, gx) and torch.allclose(w.grad, gw)


def test_the_settings_allow_the_estimators_the_hardware_has():
    """settings.methods.GRADIENTS (torch-free, for the first checks) names hw's GRADIENTS."""
    from axtrain_cli.settings.methods import GRADIENTS

    assert GRADIENTS == G.GRADIENTS
