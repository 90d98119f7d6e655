"""Hardware plug-ins: every multiplier and memory model against its plain-integer reference,
the general (per-product) layer path against the GEMM path, the registry's errors, and the
"Add your own hardware model" page's files (docs/extending.md), run from outside the package:
pas training, the sweep and the report."""

from __future__ import annotations

import importlib
import random
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, run_cli
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli.hardware import reference as ref
from axtrain_cli.hardware.layer import LayerCall

SECTIONS = ("## Add your own multiplier", "## Add your own memory model")


def readme_files() -> dict[str, str]:
    """{path: text} of the fenced blocks of docs/extending.md's plug-in sections whose first
    line is `# path`."""
    text = (ROOT / "docs" / "extending.md").read_text()
    files = {}
    for title in SECTIONS:
        body = text.split(title + "\n", 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```(?:python|yaml)\n(.*?)```", body, re.S):
            first, rest = block.split("\n", 1)
            assert first.startswith("# "), first
            files[first[2:].strip()] = rest
    return files


@pytest.fixture(scope="session")
def user_dir(tmp_path_factory):
    """The plug-in files of docs/extending.md written to a folder of the user's, importable."""
    root = tmp_path_factory.mktemp("user")
    for path, text in readme_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _edge_words(bits=16):
    half = 2 ** (bits - 1)
    mags = {0, 1, 2, 3, 5, 15, 16, 17, 255, 256, 257, 4095, half - 1}
    return sorted({s * m for m in mags for s in (1, -1)} | {-half})


def multipliers(user_dir):
    user = importlib.import_module("my_multiplier").ProductTruncation
    return [hw.Exact(), *(hw.Drum(k) for k in (2, 4, 7)), user(drop=8), user(drop=0)]


def test_the_docs_have_the_plugin_files():
    assert set(readme_files()) == {"my_multiplier.py", "myconf/knobs/with_trunc.yaml",
                                   "my_memory.py", "myconf/knobs/with_stuck.yaml"}


# ------------------------------------------------------------------------------ multipliers
def test_products_match_the_reference(user_dir):
    edge = _edge_words()
    a = torch.tensor(edge).repeat_interleave(len(edge))
    b = torch.tensor(edge).repeat(len(edge))
    g = _gen(1)
    ra, rb = (torch.randint(-(2**15), 2**15, (20_000,), generator=g) for _ in range(2))
    for m in multipliers(user_dir):
        m.check(16)
        for x, y in ((a, b), (ra, rb)):
            got = m.products(x, y)
            assert got.dtype == torch.int64
            assert got.tolist() == [m.reference(p, q) for p, q in zip(x.tolist(), y.tolist())], m


def _layer_setup(kind, seed=2):
    g = _gen(seed)
    if kind == "fc":
        mod = nn.Linear(23, 5).double()
        x = torch.randn(7, 23, generator=g, dtype=torch.float64) * 4
    else:
        mod = nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
        x = torch.randn(2, 3, 9, 9, generator=g, dtype=torch.float64) * 4
    with torch.no_grad():
        mod.weight.copy_(torch.randn(mod.weight.shape, generator=g, dtype=torch.float64) * 0.2)
        mod.bias.zero_()
    fx = hw.frac_length(float(x.abs().max()), 16)
    fw = hw.frac_length(float(mod.weight.detach().abs().max()), 16)
    return mod, x, fx, fw, hw.to_words(mod.weight.detach(), fw, 16)


@pytest.mark.parametrize("kind", ["fc", "conv"])
def test_layer_sums_reference_products(user_dir, kind):
    """Each model's layer (GEMM path or general path) in float64 equals the exact integer sum
    of its reference products (fc: per output; conv: per output through unfold)."""
    mod, x, fx, fw, words = _layer_setup(kind)
    qx = hw.quantize(x, fx, 16)
    if kind == "conv":
        cols = nn.functional.unfold(qx, 3, padding=1, stride=2)  # (N, C*9, L)
        xs = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    else:
        xs = qx
    ws = words.reshape(words.shape[0], -1)
    for m in multipliers(user_dir):
        w = m.weights(words.double(), fw, 16).double()
        y = m.layer(x, fx, 16, w, fw, mod.bias, LayerCall(kind, mod)) * 2.0 ** (fx + fw)
        expect = [[sum(m.reference(int(p), int(q)) for p, q in zip(r, c)) for c in ws.tolist()]
                  for r in xs.tolist()]
        if kind == "conv":
            y = y.flatten(2).transpose(1, 2).reshape(-1, y.shape[1])
        assert y.tolist() == [[float(v) for v in r] for r in expect], m


@pytest.mark.parametrize("kind,shared", [("fc", True), ("fc", False), ("conv", True),
                                         ("conv", False)])
def test_general_path_equals_gemm_path_with_trials(kind, shared):
    """The general path (every product summed) and DRUM's transform-then-GEMM path agree,
    also with T weight copies and inputs with or without a trial dimension."""
    mod, x, fx, fw, words = _layer_setup(kind, seed=3)
    t = 3
    stack = torch.stack([words, -words, words // 3])
    bias = torch.randn(t, mod.weight.shape[0], generator=_gen(4), dtype=torch.float64)
    if not shared:  # a trial-dependent input, the trials folded into the batch (T*N, ...)
        x = torch.cat([x, 2 * x, -x])
        fx -= 1
    call = LayerCall(kind, mod, trials=t, shared=shared)
    drum = hw.Drum(4)
    w = drum.weights(stack.double(), fw, 16).double()
    fast = drum.layer(x, fx, 16, w, fw, bias, call)
    general = hw.Multiplier.layer(drum, x, fx, 16, w, fw, bias, call)
    assert fast.shape == general.shape
    assert torch.allclose(fast, general, rtol=0, atol=1e-12)


def test_registry_errors():
    with pytest.raises(ValueError, match=r"name='wallace' is not a known multiplier: "
                                         r"allowed drum, exact"):
        hw.MULTIPLIERS.build({"name": "wallace"}, 16)
    with pytest.raises(ValueError, match="cannot import no_such_module.*PYTHONPATH"):
        hw.MULTIPLIERS.build({"name": "no_such_module.Mult"}, 16)
    with pytest.raises(ValueError, match="is not a multiplier"):
        hw.MULTIPLIERS.build({"name": "axtrain_cli.hardware.Flips"}, 16)
    with pytest.raises(ValueError, match="kk=3 is not a parameter of drum: allowed k"):
        hw.MULTIPLIERS.build({"name": "drum", "kk": 3}, 16)
    with pytest.raises(ValueError, match=r"k=16 is out of range: allowed an integer k in "
                                         r"\[2, 15\]"):
        hw.MULTIPLIERS.build({"name": "drum", "k": 16}, 16)
    assert hw.MULTIPLIERS.build({"name": "drum", "k": 5}, 16) == hw.Drum(5)
    assert hw.Drum(5).label == "drum(k=5)"
    assert hw.Flips(voltage_mv=660.0, rate=0.01).label == "flips(voltage_mv=660, rate=0.01)"


# ------------------------------------------------------------------------------- memories
def memories(user_dir):
    user = importlib.import_module("my_memory").StuckAtZero
    return [hw.RELIABLE, hw.Flips(voltage_mv=660, rate=0.05), hw.Flips(voltage_mv=400, rate=0.4),
            user(voltage_mv=500, rate=0.05)]


@pytest.mark.parametrize("bits", [8, 16])
def test_memory_reads_match_the_reference_statistics(user_dir, bits):
    """Per bit position, how often a read changes the bit: the fast `read` and the plain-int
    `reference` (driven by Python's own uniforms) agree within binomial bounds; reads stay
    valid words; the same generator seed gives the same reads."""
    n = 40_000
    words = torch.randint(-(2 ** (bits - 1)), 2 ** (bits - 1), (n,), generator=_gen(5))
    rng = random.Random(6)
    for mem in memories(user_dir):
        mem.check(bits)
        fast = mem.read(words, bits, 2, _gen(7))
        assert fast.shape == (2, n) and fast.dtype == torch.int64
        assert int(fast.min()) >= -(2 ** (bits - 1)) and int(fast.max()) < 2 ** (bits - 1)
        assert torch.equal(fast, mem.read(words, bits, 2, _gen(7)))
        slow = torch.tensor([mem.reference(w, bits, [rng.random() for _ in range(bits)])
                             for w in words.tolist()])
        for i in range(bits):
            f = ((fast[0] ^ words) >> i & 1).double().mean().item()
            s = ((slow ^ words) >> i & 1).double().mean().item()
            sigma = np.sqrt(max(f * (1 - f), s * (1 - s), 1e-9) * 2 / n)
            assert abs(f - s) < 5 * sigma + 1e-9, (mem, i, f, s)


def test_flips_reference_is_the_xor_of_its_mask():
    mem = hw.Flips(voltage_mv=660, rate=0.5)
    assert mem.reference(0, 4, [0.1, 0.9, 0.2, 0.7]) == ref.flip(0, 0b0101, 4) == 5


# ------------------------------------------------------------------- from docs/extending.md
def _cli(user_dir, args):
    flags = [a for a in args if a == "-m"]
    r = run_cli([*flags, *TINY, f"hydra.searchpath=[file://{user_dir / 'myconf'}]",
                 *(a for a in args if a != "-m")],
                cwd=user_dir, env_extra={"PYTHONPATH": str(user_dir)})
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("knobs,knob,domain,label", [
    ("with_trunc", "T8", "compute", "product_truncation(drop=8, relative_power=0.8)"),
    ("with_stuck", "stuck500", "storage", "stuck_at_zero(voltage_mv=500, rate=0.02)"),
])
def test_documented_plugins_train_sweep_and_report(user_dir, knobs, knob, domain, label):
    out = user_dir / f"runs_{knob}"
    _cli(user_dir, [f"knobs={knobs}", "method=pas", f"method.knob={knob}",
                    f"eval.knobs=[exact,K1,{knob}]", f"hydra.run.dir={out / 'pas'}"])
    _cli(user_dir, ["-m", f"knobs={knobs}", "method=bp,axtrain",
                    f"eval.knobs=[exact,{knob}]", f"hydra.sweep.dir={out / 'sweep'}"])
    pas = pd.read_csv(out / "pas" / "results.csv")
    rows = pas[pas.knob == knob]
    assert len(rows) == (3 if domain == "storage" else 1)  # eval.trials=3 reads
    assert set(rows.domain) == {domain} and set(pas.train_knob) == {knob}
    assert set(rows["multiplier" if domain == "compute" else "memory"]) == {label}
    assert rows.accuracy.between(0, 1).all()
    from axtrain_cli.report import build_report

    build_report([out], out / "report", plots=False)
    fig = pd.read_csv(out / "report" / ("fig6_multiplier_error.csv" if domain == "compute"
                                        else "fig7_ntv_accuracy.csv"))
    assert {knob} == set(fig.loc[fig.dataset == "breast_cancer", "knob"])
    assert set(fig.method) == ({"bp", "axtrain"})
    f9 = pd.read_csv(out / "report" / "fig9_power.csv").fillna({"knob": ""})
    f9 = f9[(f9.domain == domain) & (f9.dataset == "breast_cancer")]
    # bp, axtrain x 2 losses x 2 readings of the constraint (accuracy points, error rise)
    assert set(f9.knob) <= {"exact", knob} and len(f9) == 8
