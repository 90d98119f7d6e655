"""The model as written: small hand-written modules, one per feature real code uses (in-place
activations, dropout, tokens, Conv1d, reflect padding, products in the forward's own
functions, attention, nn.MultiheadAttention, a transformer encoder layer, embeddings,
keyword arguments, tuple and object outputs), each run by its own forward on the hardware
models and checked for: the exact knob close to float, K1 changing the output, a
deterministic evaluation of a model built in training mode, a straight-through step that
moves the parameters, coverage equal to torch's own flop counter, and (for the layers S
sums over) S(w) equal to a brute-force per-sample computation."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from axtrain_cli import on_hardware
from axtrain_cli.evaluation.sensitivity import network_sensitivity
from axtrain_cli.networks import Network, NetworkError, read_logits, zoo


class TokenMLP(nn.Module):
    """Linear layers on tokens (N, L, D), an in-place ReLU, dropout; logits: the mean token."""

    def __init__(self, inplace=True):
        super().__init__()
        self.embed, self.out = nn.Linear(4, 16), nn.Linear(16, 3)
        self.act, self.drop = nn.ReLU(inplace=inplace), nn.Dropout(0.3)

    def forward(self, x):
        return self.out(self.drop(self.act(self.embed(x)))).mean(1)


class Conv1dNet(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.c1, self.bn = nn.Conv1d(2, 6, 3, padding=1, bias=False), nn.BatchNorm1d(6)
        self.c2 = nn.Conv1d(6, 6, 3, stride=2, dilation=2)
        self.act, self.fc = nn.ReLU(inplace=inplace), nn.Linear(6, 3)

    def forward(self, x):
        h = self.act(self.bn(self.c1(x)))
        return self.fc(self.act(self.c2(h)).mean(-1))


class Reflect(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect")
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


class Functional(nn.Module):
    """Products in the forward's own functions: F.linear, x @ W, x @ W.T, einsum."""

    def __init__(self):
        super().__init__()
        self.w1, self.b1 = nn.Parameter(torch.randn(16, 8) / 3), nn.Parameter(torch.zeros(16))
        self.w2 = nn.Parameter(torch.randn(16, 12) / 4)  # x @ W, W (in, out)
        self.w3 = nn.Parameter(torch.randn(10, 12) / 4)  # x @ W.T
        self.w4 = nn.Parameter(torch.randn(10, 3) / 3)  # einsum

    def forward(self, x):
        h = F.relu(F.linear(x, self.w1, self.b1))
        h = torch.tanh(h @ self.w2)
        h = F.relu(h @ self.w3.T)
        return torch.einsum("nd,dk->nk", h, self.w4)


class Attention(nn.Module):
    """Hand-written attention (q @ k^T and its softmax @ v) and SDPA on the same tokens."""

    def __init__(self, dim=8):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(2 * dim, 3)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        a = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, -1) @ v
        b = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(torch.cat([a, b], -1).mean(1))


class MHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, dropout=0.2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x, mask=None):
        return self.fc(self.attn(x, x, x, key_padding_mask=mask)[0].mean(1))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.layer(x).mean(1))


class Embedded(nn.Module):
    """Token ids in: an embedding table (stored, no products), then Linear layers."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.fc1, self.fc2 = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, ids):
        return self.fc2(F.relu(self.fc1(self.emb(ids))).mean(1))


class KeywordsAndTuple(nn.Module):
    """A forward with an optional keyword argument, returning (logits, extra)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x, *, temperature: float | None = None):
        z = self.fc2(F.gelu(self.fc1(x)))
        return (z / (temperature or 1.0), {"hidden": z})


class ObjectOut(nn.Module):
    """An output object with `logits`, as Hugging Face models return."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 12), nn.ReLU(inplace=True), nn.Linear(12, 3))

    def forward(self, x, return_dict=True):
        return SimpleNamespace(logits=self.body(x), loss=None)


def ints(*shape):
    return lambda g: torch.randint(0, 20, shape, generator=g)


def normal(*shape):
    return lambda g: torch.randn(*shape, generator=g)


CASES = {  # name: (model, input of a batch of 6, has dropout, S brute-forced)
    "mlp_inplace_dropout": (lambda: nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(16, 16),
        nn.ReLU(inplace=True), nn.Linear(16, 3)), normal(6, 8), True, True),
    "tokens": (TokenMLP, normal(6, 5, 4), True, True),
    "conv1d": (Conv1dNet, normal(6, 2, 16), False, True),
    "reflect_padding": (Reflect, normal(6, 2, 6, 6), False, True),
    "functional": (Functional, normal(6, 8), False, False),
    "attention": (Attention, normal(6, 5, 8), False, False),
    "multihead": (MHA, normal(6, 5, 8), True, False),
    "encoder_layer": (Encoder, normal(6, 5, 8), True, False),
    "embedding": (Embedded, ints(6, 7), False, False),
    "keywords_tuple": (KeywordsAndTuple, normal(6, 8), False, True),
    "object_output": (ObjectOut, normal(6, 8), False, True),
    "zoo_vit": (lambda: zoo.ViT([3, 8, 8], 3, patch=4, dim=16, depth=1, heads=2, mlp=32,
                                dropout=0.1), normal(6, 3, 8, 8), True, False),
    "zoo_kws": (lambda: zoo.KWS([4, 16], 3, widths=(6, 8), strides=(2, 1)), normal(6, 4, 16),
                False, True),
}


def case(name):
    make, data, dropout, brute = CASES[name]
    torch.manual_seed(0)
    model = make()  # built in training mode, as the CLI builds a network
    x = data(torch.Generator().manual_seed(1))
    return model, x, dropout, brute


def float_logits(model, x):
    was = model.training
    model.eval()
    with torch.no_grad():
        z = read_logits(model(x), model)
    model.train(was)
    return z


@pytest.mark.parametrize("name", CASES)
def test_exact_is_float_within_the_step_and_k1_is_not(name):
    model, x, _, _ = case(name)
    ref = float_logits(model, x)
    exact = on_hardware(model, "exact", x).eval()
    k1 = on_hardware(model, "K1", x).eval()
    with torch.no_grad():
        ze, z1 = exact(x), k1(x)
    scale = float(ref.abs().max())
    assert (ze - ref).abs().max() <= 2e-3 * max(1.0, scale), (ze - ref).abs().max()
    assert (z1 - ref).abs().max() > 1e-3 * max(1.0, scale)  # DRUM k=2 changes it
    assert exact.coverage.share == 1.0


@pytest.mark.parametrize("name", CASES)
def test_evaluation_is_deterministic_and_training_keeps_dropout(name):
    """A model built in training mode and switched to eval: two evaluations agree bit for
    bit; in training mode its dropout is on (two calls differ)."""
    model, x, dropout, _ = case(name)
    hw = on_hardware(model, "exact", x)
    hw.eval()
    with torch.no_grad():
        assert torch.equal(hw(x), hw(x))
    hw.train()
    if dropout:
        with torch.no_grad():
            assert not torch.equal(hw(x), hw(x))


@pytest.mark.parametrize("name", CASES)
def test_a_straight_through_step_moves_every_weight(name):
    model, x, _, _ = case(name)
    k1 = on_hardware(model, "K1", x)  # training mode: gradients through the STE
    y = torch.arange(len(x)) % 3
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(k1(x), y).backward()
    opt.step()
    for u in k1.net.units:
        key = f"{u.name}.weight" if f"{u.name}.weight" in before else u.name
        assert not torch.equal(before[key], u.weight.detach()), u.name


@pytest.mark.parametrize("name", CASES)
def test_coverage_is_torchs_own_count(name):
    """Every multiply-accumulate the model makes (torch.utils.flop_counter, attention by
    its math path so that it counts) is in the coverage, and on the hardware."""
    model, x, _, _ = case(name)
    net = Network(model, list(x.shape[1:]), 3, sample=x)
    model.eval()
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # (its fused kernels are not counted)
    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, \
                torch.no_grad():
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    assert net.coverage.macs * len(x) == pytest.approx(counter.get_total_flops() / 2)
    assert net.coverage.share == 1.0


def brute_force_sensitivity(model, x):
    """Eq. 5 per sample by autograd, one sample and one output at a time: per Linear and
    Conv module, |W| * sum over positions (tokens) of |dO_k/dz(p)| |a(p)| (the weight untied
    per position), summed over modules and outputs, averaged over samples."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    total = torch.zeros((), dtype=torch.float64)
    for n in range(len(x)):
        seen = {}

        def keep(m, i, o):  # the layer's own output; the forward goes on with a copy
            seen[m] = (i[0], o)
            return o.clone()

        hooks = [m.register_forward_hook(keep) for m in layers]
        out = torch.sigmoid(read_logits(model(x[n:n + 1]), model))[0]
        for h in hooks:
            h.remove()
        for k in range(len(out)):
            grads = torch.autograd.grad(out[k], [seen[m][1] for m in layers], retain_graph=True)
            for m, d in zip(layers, grads):
                a = seen[m][0]
                if isinstance(m, nn.Linear):
                    d2, a2 = d.reshape(-1, d.shape[-1]), a.reshape(-1, a.shape[-1])
                    total = total + (m.weight.abs() * (d2.abs().T @ a2.abs())).sum()
                    continue
                if m.padding_mode != "zeros":  # the conv ran on the padded input
                    a = F.pad(a, m._reversed_padding_repeated_twice, mode=m.padding_mode)
                pad = 0 if m.padding_mode != "zeros" else m.padding
                a4, d4 = (a, d) if a.dim() == 4 else (a[:, :, None], d[:, :, None])
                ks = m.kernel_size if a.dim() == 4 else (1, *m.kernel_size)
                st, dl = ((m.stride, m.dilation) if a.dim() == 4 else
                          ((1, *m.stride), (1, *m.dilation)))
                pd = pad if a.dim() == 4 else (0, *pad) if isinstance(pad, tuple) else (0, pad)
                cols = F.unfold(a4.abs(), ks, dl, pd, st)[0]  # (C kh kw, P)
                for o in range(m.out_channels):
                    s = cols @ d4[0, o].abs().reshape(-1)
                    total = total + (m.weight[o].abs().reshape(-1) * s).sum()
    return total / len(x)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[3]])
def test_sensitivity_is_a_brute_force_per_sample_one(name):
    model, x, _, _ = case(name)
    model = model.double().eval()
    x = x.double()
    net = Network(model, list(x.shape[1:]), 3, sample=x)
    ours = network_sensitivity(net, x)
    assert torch.allclose(ours, brute_force_sensitivity(model, x), rtol=1e-9), name


@pytest.mark.parametrize("make", [TokenMLP, Conv1dNet])
def test_in_place_activations_change_neither_s_nor_its_gradient(make):
    x = torch.randn(5, *((5, 4) if make is TokenMLP else (2, 16)), dtype=torch.float64)
    out = []
    for inplace in (True, False):
        torch.manual_seed(0)
        model = make(inplace=inplace).double().eval()
        net = Network(model, list(x.shape[1:]), 3, sample=x)
        s = network_sensitivity(net, x)
        out.append((s, torch.autograd.grad(s, list(model.parameters()), allow_unused=True)))
    (s1, g1), (s2, g2) = out
    assert torch.equal(s1, s2)
    for a, b in zip(g1, g2):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_recurrent_layer_is_refused_by_name_or_run_in_float_and_counted():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(4, 8, batch_first=True), nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    model, x = Recurrent(), torch.randn(6, 5, 4)
    with pytest.raises(NetworkError, match=r"lstm \(nn\.LSTM\)"):
        on_hardware(model, "K1", x)
    k1 = on_hardware(model, "K1", x, unsupported="float").eval()
    cov = k1.coverage
    assert 0 < cov.share < 0.5 and cov.in_float()[0].op == "lstm (nn.LSTM)"
    assert "lstm (nn.LSTM)" in cov.describe()
    with torch.no_grad():
        assert k1(x).shape == (6, 3)


def test_keyword_arguments_and_masks_reach_the_forward():
    """The model's own forward takes its keyword arguments: a key padding mask changes
    the attention on the hardware as in float."""
    torch.manual_seed(0)
    model, x = MHA().eval(), torch.randn(4, 5, 8)
    mask = torch.zeros(4, 5, dtype=torch.bool)
    mask[:, -2:] = True
    exact = on_hardware(model, "exact", x, calibration_kwargs={"mask": mask}).eval()
    with torch.no_grad():
        hw_masked, ref = exact(x, mask=mask), model(x, mask=mask)
        assert torch.allclose(hw_masked, ref, atol=2e-3)
        assert not torch.allclose(hw_masked, model(x), atol=1e-3)
