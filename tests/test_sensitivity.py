"""network_sensitivity / sensitivity_map against brute-force per-sample jacobians
(torch.func, float64), and the gradient of S against Eq. 6 and finite differences."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, jvp, vmap

from axtrain_cli.evaluation.sensitivity import (
    _apply,
    _layer_terms,
    network_sensitivity,
    sensitivity_map,
)
from axtrain_cli.networks import Network, build_network


def tiny_mlp(sizes=(5, 4, 3, 2), output_activation="sigmoid", seed=0):
    torch.manual_seed(seed)
    topo = {"kind": "mlp", "hidden": list(sizes[1:-1]), "output_activation": output_activation}
    return build_network(topo, [sizes[0]], sizes[-1]).double()


def tiny_conv(n_out=2, seed=0):
    """conv(pad 1), relu, pool, conv(stride 2, pad 1), relu, flatten, fc, relu, fc (1x8x8 in):
    a chain, as the sensitivity's explicit backward runs it."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, n_out))
    net = Network(model, [1, 8, 8], n_out).double()
    assert net.chain
    return net


def weight_name(net, i):
    return f"model.{net.units[i].name}.weight"


def split(net):
    """(weights, biases) dicts of named parameters."""
    params = dict(net.named_parameters())
    return ({k: v.detach() for k, v in params.items() if k.endswith("weight")},
            {k: v.detach() for k, v in params.items() if k.endswith("bias")})


def per_sample_jacobians(net, x):
    """{weight name: dO_k(n)/dW, shape (N, K, *W.shape)} by brute force."""
    weights, biases = split(net)

    def out(w, xi):
        return functional_call(net, {**w, **biases}, (xi[None],))[0]

    return weights, vmap(jacrev(out), in_dims=(None, 0))(weights, x)


def untied_outputs(net, untied, x):
    """The net's outputs with every conv weight untied per output position:
    untied[i] has shape (L, O, C, kh, kw), L the number of output positions of conv i."""
    for op in net.program:
        if op[0] == "conv":
            u = net.units[op[1]]
            stride, padding = u.conv[:2]
            cols = F.unfold(x, u.weight.shape[2:], padding=padding, stride=stride)  # (N, CKK, L)
            z = torch.einsum("ncl,loc->nol", cols, untied[op[1]].flatten(2)) + u.bias[:, None]
            side = int(cols.shape[-1] ** 0.5)
            x = z.view(len(x), -1, side, side)
        elif op[0] == "fc":
            x = F.linear(x, net.units[op[1]].weight, net.units[op[1]].bias)
        elif op[0] == "relu":
            x = torch.relu(x)
        elif op[0] == "pool":
            x = F.max_pool2d(x, 2)
        else:
            x = x.flatten(1)
    return torch.sigmoid(x)


def assert_smooth(net, x, margin=1e-4):
    """No ReLU input and no max-pool choice within `margin` of a kink at x."""
    zs = []
    net.logits(x, observe=lambda i, a, z: zs.append(z.detach()))
    for z in zs[:-1]:
        assert z.abs().min() > margin
    for op, z in zip([o for o in net.program if o[0] in ("fc", "conv")], zs):
        nxt = net.program[net.program.index(op) + 1:]
        if len(nxt) > 1 and nxt[:2] == [("relu",), ("pool",)]:
            win = F.unfold(torch.relu(z), 2, stride=2).view(len(x), z.shape[1], 4, -1)
            top = win.sort(2, descending=True).values
            busy = top[:, :, 0] > 0
            assert (top[:, :, 0] - top[:, :, 1])[busy].min() > margin


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_mlp_matches_brute_force(activation):
    net, x = tiny_mlp(output_activation=activation), torch.randn(6, 5, dtype=torch.float64)
    weights, jac = per_sample_jacobians(net, x)
    per_sample = sum((w.abs() * jac[k].abs()).sum() for k, w in weights.items()) / len(x)
    batch_mean = sum((w.abs() * jac[k].mean(0).abs()).sum() for k, w in weights.items())
    assert torch.allclose(network_sensitivity(net, x), per_sample, rtol=1e-10)
    assert torch.allclose(network_sensitivity(net, x, per_sample=False), batch_mean, rtol=1e-10)
    for i, name in enumerate(weights):  # the per-weight map, layer by layer
        expect = weights[name].abs() * jac[name].abs().sum((0, 1)) / len(x)
        assert torch.allclose(sensitivity_map(net, x, i), expect, rtol=1e-10)


def test_conv_is_the_untied_upper_bound():
    net, x = tiny_conv(), torch.randn(5, 1, 8, 8, dtype=torch.float64)
    weights, jac = per_sample_jacobians(net, x)
    exact = sum((w.abs() * jac[k].abs()).sum() for k, w in weights.items()) / len(x)
    batch_mean = sum((w.abs() * jac[k].mean(0).abs()).sum() for k, w in weights.items())

    # brute force of the documented bound: conv weights untied per output position
    positions = {0: 64, 1: 4}
    untied = {i: net.units[i].weight.detach().expand(n, *net.units[i].weight.shape)
              for i, n in positions.items()}
    assert torch.allclose(untied_outputs(net, untied, x), net(x), rtol=1e-12)
    ujac = vmap(jacrev(lambda u, xi: untied_outputs(net, u, xi[None])[0]),
                in_dims=(None, 0))(untied, x)  # (N, K, L, O, C, kh, kw)
    bound = sum((untied[i].abs() * ujac[i].abs()).sum() for i in positions)
    bound = bound + sum((weights[weight_name(net, i)].abs() * jac[weight_name(net, i)].abs()
                         ).sum() for i in (2, 3))
    bound = bound / len(x)

    s = network_sensitivity(net, x)
    assert torch.allclose(s, bound, rtol=1e-10)
    assert s > exact  # strictly looser than the tied per-sample value here
    assert torch.allclose(network_sensitivity(net, x, per_sample=False), batch_mean, rtol=1e-10)


def test_lenet5_deltas_match_autograd():
    torch.manual_seed(0)
    net = build_network({"kind": "lenet5"}, [1, 28, 28], 10).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    zs = []
    out = torch.sigmoid(net.logits(x, observe=lambda i, a, z: zs.append(z)))
    eye = torch.eye(10, dtype=x.dtype)[:, None, :].expand(10, *out.shape)
    expect = torch.autograd.grad(out, zs, eye, is_grads_batched=True)
    assert net.chain
    for (layer, a, delta, tail), e, u in zip(_layer_terms(net, x), expect, net.units):
        assert layer.weight is u.weight
        assert torch.allclose(_apply(tail, delta), e, rtol=1e-10, atol=1e-14)


# torch.func.jvp loads torch's own jit-scripted decompositions, which warn on this torch
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("n, k", [(1, 1), (3, 2)])
def test_gradient_is_eq6(n, k):
    """dS/dp = sum over samples and outputs of sign(w)|g| + H V, V = |w| sign(g) on the weights
    (0 on the biases), g = dO_k(n)/dp, H V by forward-over-reverse; averaged over samples."""
    net, x = tiny_mlp((4, 3, 3, k)), torch.randn(n, 4, dtype=torch.float64)
    assert_smooth(net, x)
    params = {name: p.detach() for name, p in net.named_parameters()}
    expect = {name: torch.zeros_like(p) for name, p in params.items()}
    for i in range(n):
        for j in range(k):
            def grad_o(p, i=i, j=j):
                return torch.func.grad(lambda q: functional_call(net, q, (x[i:i + 1],))[0, j])(p)

            g = grad_o(params)
            v = {name: p.abs() * g[name].sign() if name.endswith("weight") else 0 * p
                 for name, p in params.items()}
            _, hv = jvp(grad_o, (params,), (v,))
            for name, p in params.items():
                first = p.sign() * g[name].abs() if name.endswith("weight") else 0
                expect[name] += (first + hv[name]) / n
    got = torch.autograd.grad(network_sensitivity(net, x), list(net.parameters()))
    for name, gr in zip(params, got):
        assert torch.allclose(gr, expect[name], rtol=1e-10, atol=1e-13), name


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("per_sample", [True, False])
def test_gradient_matches_finite_differences(kind, per_sample):
    if kind == "mlp":
        net, x = tiny_mlp(seed=1), torch.randn(4, 5, dtype=torch.float64)
    else:
        net, x = tiny_conv(seed=1), torch.randn(3, 1, 8, 8, dtype=torch.float64)
    assert_smooth(net, x)
    params = list(net.parameters())
    grads = torch.autograd.grad(network_sensitivity(net, x, per_sample), params)
    eps, gen = 1e-6, torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p, g in zip(params, grads):  # directional derivatives, 3 random ones per tensor
            for _ in range(3):
                u = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                p += eps * u
                hi = network_sensitivity(net, x, per_sample)
                p -= 2 * eps * u
                lo = network_sensitivity(net, x, per_sample)
                p += eps * u
                fd = (hi - lo) / (2 * eps)
                assert torch.allclose(fd, (g * u).sum(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_map_sums_to_sensitivity(kind):
    if kind == "mlp":
        torch.manual_seed(0)
        net = build_network({"kind": "mlp", "hidden": [16, 8]}, [20], 3)
        x = torch.randn(10, 20)
    else:
        net, x = tiny_conv(), torch.randn(4, 1, 8, 8, dtype=torch.float64)
    maps = [sensitivity_map(net, x, i) for i in range(len(net.units))]
    for m, layer in zip(maps, net.units):
        assert m.shape == layer.weight.shape and not m.requires_grad and (m >= 0).all()
    assert torch.equal(sensitivity_map(net, x), maps[-1])
    s = network_sensitivity(net, x)
    assert s.requires_grad and s.dim() == 0
    assert torch.allclose(sum(m.sum() for m in maps), s.detach(), rtol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_sampled_outputs_are_an_unbiased_estimate(kind):
    """outputs=generator: one output k per sample, K * its term. For one sample every draw
    is one of K values K s_k, and their mean is S exactly (the expectation over the draw);
    for a batch the per-sample draws average over many calls to S."""
    net = tiny_mlp(sizes=(5, 4, 3)) if kind == "mlp" else tiny_conv(n_out=3)
    x = torch.randn(1, *net.input_shape, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = {round(network_sensitivity(net, x, outputs=g).item(), 12) for _ in range(80)}
    assert len(draws) == 3  # K = 3 distinct values, all drawn
    assert sum(draws) / 3 == pytest.approx(network_sensitivity(net, x).item(), rel=1e-10)
    xb = torch.randn(16, *net.input_shape, dtype=torch.float64)
    s = network_sensitivity(net, xb, outputs=g)
    assert s.requires_grad  # differentiable, like the full S
    many = torch.stack([network_sensitivity(net, xb, outputs=g).detach() for _ in range(400)])
    se = float(many.std()) / 20
    assert abs(float(many.mean()) - network_sensitivity(net, xb).item()) < 5 * se
    with pytest.raises(ValueError, match="per_sample"):
        network_sensitivity(net, xb, per_sample=False, outputs=g)


@pytest.mark.parametrize("sampled", [False, True])
def test_act_step_at_gamma_zero_is_bp_and_logs_s(sampled):
    """At gamma = 0 act's step builds no graph for S: its gradient is the output error's
    alone, bit for bit what E + 0 * S gave, S is still logged, and the sampled reading draws
    its outputs as at gamma > 0 (the generator's stream does not depend on gamma)."""
    from axtrain_cli.methods.act import act_step
    from axtrain_cli.training import loss_per_sample

    net = tiny_conv(n_out=3)
    x = torch.randn(8, *net.input_shape, dtype=torch.float64)
    y = torch.randint(3, (8,))

    def grads(gamma):
        net.zero_grad()
        g = torch.Generator().manual_seed(1) if sampled else None
        objective, figures = act_step("mse", 3, gamma=lambda: gamma, outputs=g)(net, x, y)
        objective.backward()
        return [p.grad.clone() for p in net.parameters()], figures, g

    at0, figures0, g0 = grads(0.0)
    at1, figures1, g1 = grads(0.5)
    net.zero_grad()
    g = torch.Generator().manual_seed(1) if sampled else None
    z = net.logits(x)
    e = loss_per_sample(z, y, "mse", 3).mean()
    s = network_sensitivity(net, x, outputs=g)
    (e + 0.0 * s).backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(at0, net.parameters()))
    assert figures0["sensitivity"] == figures1["sensitivity"] == s.detach()
    assert not figures0["sensitivity"].requires_grad
    assert any(not torch.equal(a, b) for a, b in zip(at0, at1))  # gamma > 0 does regularise
    if sampled:
        assert torch.equal(g0.get_state(), g1.get_state())
