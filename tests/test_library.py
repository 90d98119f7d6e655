"""The multiplier library beyond DRUM: leading-one truncation, Mitchell's logarithmic
multiplier and 8-bit table multipliers, each against its plain-integer reference, with its
known error statistics, its files refused with one line, and runs through the CLI."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, run_cli
from torch import nn

from axtrain_cli import hardware as hw
from axtrain_cli.hardware import reference
from axtrain_cli.hardware.layer import LayerCall
from axtrain_cli.hardware.multipliers.table import load_table, shipped, table_path

RNG = random.Random(0)
WORDS16 = [RNG.randint(-32768, 32767) for _ in range(3000)]


def test_truncation_transform_matches_the_reference_on_every_16_bit_word():
    words = torch.arange(-32768, 32768)
    for k in (2, 4, 7, 15):
        t = hw.Truncation(k)
        want = torch.tensor([reference.trunc_t(int(x), k) for x in words[::7]])
        assert torch.equal(t.transform(words[::7]), want)
        assert torch.equal(t.transform(words.double()), t.transform(words).double())
        assert torch.equal(t.transform(words.float()), t.transform(words).float())
        # biased: magnitudes never grow, and the exact range below 2^k is kept
        assert bool((t.transform(words).abs() <= words.abs()).all())
        small = words[words.abs() < 2**k]
        assert torch.equal(t.transform(small), small)


def test_truncation_operand_and_products_follow_the_reference():
    t = hw.Truncation(5)
    x = torch.randn(500, generator=torch.Generator().manual_seed(1)) * 3
    q = hw.quantize(x, 12, 16)
    assert torch.equal(t.operand(x, 12, 16), t.transform(q) * 2.0**-12)
    a, b = torch.tensor(WORDS16[:1500]), torch.tensor(WORDS16[1500:])
    got = t.products(a, b)
    assert [int(v) for v in got] == [t.reference(int(x), int(y)) for x, y in zip(a, b)]
    assert t.power() == hw.drum_power(5)
    assert hw.Truncation(5, relative_power=0.3).power() == 0.3


def test_mitchell_products_match_the_reference():
    m = hw.Mitchell()
    a8 = torch.arange(-128, 128)
    got = m.products(a8[:, None], a8[None, :])
    want = torch.tensor([[reference.mitchell_mul(x, y) for y in range(-128, 128)]
                         for x in range(-128, 128)])
    assert torch.equal(got, want)
    a, b = torch.tensor(WORDS16[:1500]), torch.tensor(WORDS16[1500:])
    assert [int(v) for v in m.products(a, b)] == [reference.mitchell_mul(int(x), int(y))
                                                  for x, y in zip(a, b)]


def test_mitchell_error_statistics_are_the_published_ones():
    """Mitchell (1962): never overestimates; mean about -3.8 %, worst -11.1 % (at
    xa = xb = 1/2), here over every pair of 8-bit magnitudes and from the integer reference."""
    mags = torch.arange(1, 256)
    exact = (mags[:, None] * mags[None, :]).double()
    rel = (hw.Mitchell().products(mags[:, None], mags[None, :]).double() - exact) / exact
    assert float(rel.max()) == 0.0
    assert -0.039 < float(rel.mean()) < -0.037
    assert abs(float(rel.min()) - (-1 / 9)) < 1e-12  # -11.1 %
    ref = [(reference.mitchell_mul(a, b) - a * b) / (a * b) for a in range(1, 256, 3)
           for b in range(1, 256, 5)]
    assert -0.040 < sum(ref) / len(ref) < -0.036 and min(ref) >= -1 / 9


def test_the_shipped_tables_hold_what_they_are_named_after():
    assert {"exact_s8", "drum3_u8", "drum4_u8", "drum5_u8", "drum6_u8",
            "trunc4_u8", "mitchell_s8"} <= set(shipped())
    exact = load_table("exact_s8", True)
    for a in range(-128, 128, 5):
        for b in range(-128, 128, 3):
            assert int(exact[a & 255, b & 255]) == a * b
    for k in (3, 4, 5, 6):
        t = load_table(f"drum{k}_u8", False)
        assert all(int(t[a, b]) == reference.drum_mul(a, b, k)
                   for a in range(0, 256, 7) for b in range(0, 256, 3))
    t = load_table("trunc4_u8", False)
    assert int(t[200, 77]) == reference.trunc_t(200, 4) * reference.trunc_t(77, 4)
    t = load_table("mitchell_s8", True)
    assert all(int(t[a & 255, b & 255]) == reference.mitchell_mul(a, b)
               for a in range(-128, 128, 3) for b in range(-128, 128, 5))


@pytest.mark.parametrize("file,signed", [("exact_s8", True), ("drum4_u8", False),
                                         ("mitchell_s8", True)])
def test_table_products_match_the_reference(file, signed):
    m = hw.Table(file, signed=signed)
    a = torch.tensor([RNG.randint(-128, 127) for _ in range(2000)])
    b = torch.tensor([RNG.randint(-128, 127) for _ in range(2000)])
    assert [int(v) for v in m.products(a, b)] == [m.reference(int(x), int(y))
                                                  for x, y in zip(a, b)]


def test_separable_tables_are_recognised_exactly(tmp_path):
    """A table whose products are f(a) * f(b) gets its f (checked against all 65,536
    products): the shipped DRUM, truncation and exact tables, with f the plain-integer
    transform. A table one entry away from that, or Mitchell's, is not separable."""
    for k in (3, 4, 5, 6):
        t = hw.Table(f"drum{k}_u8", signed=False)
        assert t.separable
        assert t.transform(torch.arange(-128, 128)).tolist() == [
            reference.drum_t(a, k) for a in range(-128, 128)]
    trunc, exact = hw.Table("trunc4_u8", signed=False), hw.Table("exact_s8")
    assert trunc.transform(torch.arange(-128, 128)).tolist() == [
        reference.trunc_t(a, 4) for a in range(-128, 128)]
    assert exact.transform(torch.arange(-128, 128.0)).tolist() == list(range(-128, 128))
    # the products f(a) * f(b) are the table's, against the plain-integer reference
    a, b = torch.arange(-128, 128)[:, None], torch.arange(-128, 128)[None, :]
    for t in (trunc, exact, hw.Table("drum3_u8", signed=False)):
        got = t.transform(a) * t.transform(b)
        assert got.tolist() == [[t.reference(x, y) for y in range(-128, 128)]
                                for x in range(-128, 128)]
    off = np.load(table_path("drum4_u8")).copy()
    off[77, 13] += 1
    np.save(tmp_path / "off.npy", off)
    np.save(tmp_path / "zero.npy", np.zeros((256, 256), dtype=np.int32))
    assert not hw.Table(str(tmp_path / "off.npy"), signed=False).separable
    assert not hw.Table("mitchell_s8").separable
    zero = hw.Table(str(tmp_path / "zero.npy"))
    assert zero.separable and not bool(zero.transform(torch.arange(-128, 128)).any())


def test_a_drum_table_layer_equals_the_general_path_and_the_drum_layer():
    """A DRUM table's layer (separable: f, then a GEMM/conv), the general path on the same
    table (one table product per multiplication, summed) and DRUM's own layer give the same
    outputs at 8 bits: fc and conv, one copy and T trial copies."""
    torch.manual_seed(0)
    table, drum = hw.Table("drum4_u8", signed=False), hw.Drum(4)
    fc, conv = nn.Linear(20, 7), nn.Conv2d(2, 3, 3, padding=1)
    for mod, x in ((fc, torch.randn(9, 20)), (conv, torch.randn(4, 2, 6, 6))):
        kind = "fc" if mod is fc else "conv"
        w_fl = hw.frac_length(float(mod.weight.detach().abs().max()), 8)
        words = hw.to_words(mod.weight.detach(), w_fl, 8)
        for trials in (None, 3):
            stored = words if trials is None else words.expand(trials, *words.shape)
            b = mod.bias.detach() if trials is None else mod.bias.detach().expand(trials, -1)
            call = LayerCall(kind, mod, trials)
            got = table.layer(x, 5, 8, table.weights(stored, w_fl, 8), w_fl, b, call)
            general = hw.Multiplier.layer(table, x, 5, 8, hw.Multiplier.weights(
                table, stored, w_fl, 8), w_fl, b, call)
            want = drum.layer(x, 5, 8, drum.weights(stored, w_fl, 8), w_fl, b, call)
            assert torch.allclose(got, want, rtol=1e-6, atol=1e-6)
            assert torch.allclose(general, want, rtol=1e-6, atol=1e-6)


def test_table_files_are_refused_with_one_line(tmp_path):
    def refused(path, signed=True):
        with pytest.raises(ValueError) as e:
            load_table(str(path), signed)
        assert "\n" not in str(e.value) and f"file={str(path)!r}" in str(e.value)
        return str(e.value)

    assert "no such table file" in refused(tmp_path / "missing.npy")
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)
    assert "131072 bytes" in refused(tmp_path / "short.bin")
    np.save(tmp_path / "float.npy", np.zeros((256, 256)))
    assert "float64" in refused(tmp_path / "float.npy")
    np.save(tmp_path / "shape.npy", np.zeros((16, 16), dtype=np.int32))
    assert "(16, 16)" in refused(tmp_path / "shape.npy")
    (tmp_path / "t.csv").write_text("1,2")
    assert "allowed a .npy or .bin" in refused(tmp_path / "t.csv")
    marker = tmp_path / "unpickled"
    obj = np.empty(1, dtype=object)
    obj[0] = _Payload(str(marker))
    np.save(tmp_path / "pickle.npy", obj, allow_pickle=True)
    assert "not a numeric .npy" in refused(tmp_path / "pickle.npy")
    assert not marker.exists()  # never unpickled
    with pytest.raises(ValueError, match="hardware=fixed8"):
        hw.MULTIPLIERS.build({"name": "table", "file": "exact_s8"}, 16)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_make_table_turns_a_function_into_npy_and_bin_tables(tmp_path):
    (tmp_path / "my_mult.py").write_text("def f(a, b):\n    return (a * b) >> 2 << 2\n")
    for out, extra in ((tmp_path / "t.npy", []), (tmp_path / "t.bin", ["--bin"])):
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_table.py"), "my_mult:f",
                            str(out), *extra], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        m = hw.Table(str(out))
        a, b = torch.arange(-128, 128)[:, None], torch.arange(-128, 128)[None, :]
        assert torch.equal(m.products(a, b), (a * b) >> 2 << 2)


def test_the_library_runs_in_training_and_the_sweep(tmp_path):
    r = run_cli([*TINY, "knobs=library", "method=pas", "method.knob=mitchell",
                 "eval.knobs=[exact,K1,trunc4,mitchell]", f"hydra.run.dir={tmp_path / 'a'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(tmp_path / "a" / "results.csv")
    assert set(df["multiplier"]) >= {"truncation(k=4)",
                                     "mitchell(relative_power=0.5)"}
    r = run_cli([*TINY, "knobs=tables", "hardware=fixed8", "method=pas", "method.knob=K2",
                 "eval.knobs=[exact,t_exact,K2,ntv660]", f"hydra.run.dir={tmp_path / 'b'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(tmp_path / "b" / "results.csv")
    rows = df.groupby("knob")["accuracy"].mean()
    assert rows["t_exact"] == rows["exact"]  # the exact table is the exact multiplier
    r = run_cli([*TINY, "knobs=tables", "eval.knobs=[exact,K2]",
                 f"hydra.run.dir={tmp_path / 'c'}"], cwd=tmp_path)
    assert r.returncode == 2 and "hardware=fixed8" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- memories
def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _change_rates(read, words, bits):
    return [((read ^ words) >> i & 1).double().mean().item() for i in range(bits)]


@pytest.mark.parametrize("bits", [8, 16])
def test_per_bit_and_asymmetric_reads_match_the_reference_statistics(bits):
    """Per bit position, how often a read changes the bit: fast `read` and plain-int
    `reference` (Python's uniforms) agree within binomial bounds; same seed, same reads."""
    n = 40_000
    words = torch.randint(-(2 ** (bits - 1)), 2 ** (bits - 1), (n,), generator=_gen(5))
    rates = [0.3 * i / bits for i in range(bits)]  # a different rate on every bit
    rng = random.Random(6)
    for mem in (hw.MEMORIES.build({"name": "bit_rates", "voltage_mv": 600, "rates": rates}, bits),
                hw.MEMORIES.build({"name": "asymmetric", "voltage_mv": 600, "rate_01": 0.02,
                                   "rate_10": 0.2}, bits)):
        fast = mem.read(words, bits, 2, _gen(7))
        assert fast.shape == (2, n) and torch.equal(fast, mem.read(words, bits, 2, _gen(7)))
        assert int(fast.min()) >= -(2 ** (bits - 1)) and int(fast.max()) < 2 ** (bits - 1)
        slow = torch.tensor([mem.reference(w, bits, [rng.random() for _ in range(bits)])
                             for w in words.tolist()])
        for f, s in zip(_change_rates(fast[0], words, bits), _change_rates(slow, words, bits)):
            sigma = np.sqrt(max(f * (1 - f), s * (1 - s), 1e-9) * 2 / n)
            assert abs(f - s) < 5 * sigma + 1e-9, (mem, f, s)
    bit_rates = hw.MEMORIES.build({"name": "bit_rates", "voltage_mv": 600, "rates": rates}, bits)
    got = _change_rates(bit_rates.read(words, bits, None, _gen(8)), words, bits)
    for g, p in zip(got, rates):  # each position at its own rate
        assert abs(g - p) < 5 * np.sqrt(max(p * (1 - p), 1e-9) / n) + 1e-9
    asym = hw.MEMORIES.build({"name": "asymmetric", "voltage_mv": 600, "rate_01": 0.0,
                              "rate_10": 0.5}, bits)
    assert int((asym.read(words, bits, None, _gen(9)) & ~words & ((1 << bits) - 1)).max()) == 0


def test_zero_rates_flip_nothing_and_a_default_generator_works():
    from axtrain_cli.hardware.memories.flips import _flip_masks

    assert int(_flip_masks(10_000, 0.0, 16, _gen(0)).abs().sum()) == 0
    words = torch.randint(-128, 128, (5000,), generator=_gen(2))
    asym = hw.MEMORIES.build({"name": "asymmetric", "voltage_mv": 600, "rate_01": 0.0,
                              "rate_10": 0.0}, 8)
    assert torch.equal(asym.read(words, 8, 3, _gen(1))[2], words)
    for spec in ({"name": "flips", "voltage_mv": 600, "rate": 0.1},
                 {"name": "chips", "voltage_mv": 600, "rate": 0.1}):
        read = hw.MEMORIES.build(spec, 8).read(words, 8, None, None)  # torch's default
        assert read.shape == words.shape and not torch.equal(read, words)


def test_bad_memory_parameters_are_one_line_errors():
    with pytest.raises(ValueError, match="rates=.*a list of 16 probabilities"):
        hw.MEMORIES.build({"name": "bit_rates", "voltage_mv": 600, "rates": [0.1] * 8}, 16)
    with pytest.raises(ValueError, match="rate_10=1.5"):
        hw.MEMORIES.build({"name": "asymmetric", "voltage_mv": 600, "rate_01": 0.1,
                           "rate_10": 1.5}, 16)
    with pytest.raises(ValueError, match="fault='melt'.*stuck, flip"):
        hw.MEMORIES.build({"name": "chips", "voltage_mv": 600, "rate": 0.1, "fault": "melt"}, 16)


def test_chips_read_exactly_their_hashed_fault_maps():
    """Every read word equals the reference given the chip's cell uniforms (the hash in
    plain Python), at any address and chip numbering."""
    words = torch.randint(-32768, 32768, (300,), generator=_gen(1))
    for fault in ("stuck", "flip"):
        mem = hw.MEMORIES.build({"name": "chips", "voltage_mv": 500, "rate": 0.2,
                                 "fault": fault, "chip_seed": 3}, 16)
        out = mem.read_at(words, 16, 3, _gen(0), address=11, first_trial=4)
        for t in range(3):
            for j in range(0, 300, 13):
                u = [reference.chip_uniform(3, 4 + t, (11 + j) * 16 + i) for i in range(16)]
                assert int(out[t, j]) == mem.reference(int(words[j]), 16, u)


def test_chip_faults_persist_nest_across_voltages_and_have_the_set_rate():
    zeros = torch.zeros(20_000, dtype=torch.int64)
    maps = {}
    for mv, rate in ((400, 0.1), (660, 0.01), (850, 0.001)):
        mem = hw.MEMORIES.build({"name": "chips", "voltage_mv": mv, "rate": rate,
                                 "fault": "flip"}, 16)
        maps[mv] = mem.read_at(zeros, 16, 4, _gen(0)) & 0xFFFF
        assert torch.equal(maps[mv], mem.read_at(zeros, 16, 4, _gen(99)) & 0xFFFF)  # persistent
        assert torch.equal(maps[mv][2:], mem.read_at(zeros, 16, 2, _gen(0), first_trial=2)
                           & 0xFFFF)  # chip numbering, not call order
        ones = sum(int(((maps[mv] >> b) & 1).sum()) for b in range(16))
        cells = maps[mv].numel() * 16
        assert abs(ones / cells - rate) < 5 * np.sqrt(rate * (1 - rate) / cells)
        assert not torch.equal(maps[mv][0], maps[mv][1])  # chips differ
    assert int((maps[850] & ~maps[660]).max()) == 0 and int((maps[660] & ~maps[400]).max()) == 0
    stuck = hw.MEMORIES.build({"name": "chips", "voltage_mv": 400, "rate": 0.1,
                               "stuck_one": 1.0}, 16)
    read = stuck.read_at(zeros, 16, 1, _gen(0))[0] & 0xFFFF
    assert torch.equal(read, maps[400][0])  # all stuck at 1: reads 1 where the map is faulty


def test_chip_training_modes():
    words = torch.zeros(5000, dtype=torch.int64)
    fresh = hw.MEMORIES.build({"name": "chips", "voltage_mv": 400, "rate": 0.1}, 16)
    one = hw.MEMORIES.build({"name": "chips", "voltage_mv": 400, "rate": 0.1,
                             "training": "one", "chip": 7}, 16)
    g = _gen(0)
    assert not torch.equal(fresh.read(words, 16, None, g), fresh.read(words, 16, None, g))
    assert torch.equal(one.read(words, 16, None, g), one.read(words, 16, None, _gen(5)))
    assert torch.equal(one.read(words, 16, None, g), one.read_at(words, 16, 1, g,
                                                                 first_trial=7)[0])
    assert fresh.power(1100.0) == hw.sram_power(400, 1100.0)


def test_the_memory_library_runs_in_training_and_the_sweep(tmp_path):
    rates = "[" + ",".join(["0.01"] * 8 + ["0"] * 8) + "]"  # the high byte protected
    r = run_cli([*TINY, "knobs=library", "method=pas", "method.knob=chips660",
                 f"+knobs.msb660={{memory:{{name:bit_rates,voltage_mv:660,rates:{rates}}}}}",
                 "eval.knobs=[exact,chips400,chips660,asym660,msb660]",
                 f"hydra.run.dir={tmp_path / 'a'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(tmp_path / "a" / "results.csv")
    assert (df.groupby("knob").size()[["chips400", "asym660", "msb660"]] == 3).all()  # trials
    assert df[df["knob"] == "chips400"]["memory"].iloc[0].startswith("chips(voltage_mv=400")


def test_the_compiled_general_path_equals_the_eager_one(monkeypatch):
    """Past COMPILE_AFTER products a process runs the general path through one compiled
    kernel per multiplier (products and sum fused); integer sums: the same outputs exactly."""
    from axtrain_cli.hardware import products as layer

    torch.manual_seed(0)
    fc, conv = nn.Linear(30, 6), nn.Conv2d(2, 3, 3, padding=1)
    cases = [(fc, torch.randn(40, 30), "fc"), (conv, torch.randn(5, 2, 7, 7), "conv")]
    for m, bits in ((hw.Mitchell(), 16), (hw.Table("mitchell_s8"), 8)):
        for mod, x, kind in cases:
            w_fl = hw.frac_length(float(mod.weight.detach().abs().max()), bits)
            words = hw.to_words(mod.weight.detach(), w_fl, bits)
            for trials in (None, 2):
                stored = words if trials is None else words.expand(trials, *words.shape)
                b = mod.bias.detach() if trials is None else mod.bias.detach().expand(trials, -1)
                call = LayerCall(kind, mod, trials)

                def out():
                    return m.layer(x, bits - 3, bits, m.weights(stored, w_fl, bits), w_fl, b, call)

                monkeypatch.setattr(layer, "LOOKUP_BITS", 0)  # per product, both ways
                monkeypatch.setattr(layer, "COMPILE_AFTER", 1 << 62)
                eager = out()
                monkeypatch.setattr(layer, "COMPILE_AFTER", 0)
                compiled = out()
                assert torch.equal(eager, compiled), (m, kind, trials)
        assert layer._compiled[(m, type(m).products)] not in (None, False)  # it did compile


def _words(shape, lo, hi, zeros=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(lo, hi, shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < zeros, 0, x).float()


def test_lookup_rows_equal_the_per_product_sums(tmp_path):
    """At 8 bits the general path sums rows of a product table (embedding_bag, float32):
    bit-exact against the per-product int64 sums for tables with large products (several
    column groups), a table whose zero row is not zero (no zero skipping), Mitchell, signed
    and nonnegative activations, all-zero rows, fc with and without zero skipping, conv."""
    from axtrain_cli.hardware import products as layer

    s8 = np.arange(256) - 256 * (np.arange(256) > 127)  # two's complement patterns
    exact = np.multiply.outer(s8, s8)
    np.save(tmp_path / "plus1.npy", exact + 1)  # a zero word still adds 1: no zero skipping
    np.save(tmp_path / "x100.npy", exact * 100)  # sums of 10 products at most are exact
    models = [hw.Table("drum4_u8", signed=False), hw.Table("exact_s8"),
              hw.Table(str(tmp_path / "plus1.npy")), hw.Table(str(tmp_path / "x100.npy")),
              hw.Mitchell()]
    for m in models:
        for n, i, o, lo in ((300, 600, 70, -128), (300, 600, 70, 0), (200, 40, 9, -30)):
            x = _words((n, i), lo, 128, seed=n + i)
            x[:5] = 0  # rows with nothing but zeros
            w = _words((o, i), -128, 128, zeros=0.1, seed=o)
            got = layer.lookup(m.products, x, w, 8)
            want = layer.product_sums(m.products, x.long(), w.long()).double()
            assert got is not None and torch.equal(got, want), (m, n, i, o, lo)
    assert layer.product_table(models[3].products, 8).abs().max() == 100 * 128 * 128


@pytest.mark.parametrize("trials,shared", [(None, True), (2, True), (2, False)])
def test_lookup_rows_equal_per_product_in_layers(monkeypatch, trials, shared):
    """The whole general path (fc and conv with padding and stride, trial copies) gives the
    same outputs by lookup rows and per product."""
    from axtrain_cli.hardware import products as layer

    torch.manual_seed(0)
    fc, conv = nn.Linear(90, 70), nn.Conv2d(3, 5, 3, padding=1, stride=2)
    m, real = hw.Table("mitchell_s8"), layer.lookup  # not separable: general path
    for mod, shape in ((fc, (300, 90)), (conv, (40, 3, 9, 9))):
        kind = "fc" if mod is fc else "conv"
        w_fl = hw.frac_length(float(mod.weight.detach().abs().max()), 8)
        words = hw.to_words(mod.weight.detach(), w_fl, 8)
        stored = words if trials is None else words.expand(trials, *words.shape)
        b = mod.bias.detach() if trials is None else mod.bias.detach().expand(trials, -1)
        x = torch.randn(shape)
        if not shared:  # each trial its own input, the trials folded into the batch
            x = torch.randn(trials * shape[0], *shape[1:])
        call = LayerCall(kind, mod, trials, shared)

        def out():
            return m.layer(x, 5, 8, m.weights(stored, w_fl, 8), w_fl, b, call)

        monkeypatch.setattr(layer, "LOOKUP_BITS", 0)
        per_product = out()
        monkeypatch.setattr(layer, "LOOKUP_BITS", 8)
        calls = []
        monkeypatch.setattr(layer, "lookup", lambda *a: calls.append(r := real(*a)) or r)
        assert torch.equal(out(), per_product), (kind, trials, shared)
        assert calls and all(r is not None for r in calls)  # it did take the lookup rows


def test_lookup_rows_step_aside_where_they_do_not_pay_or_are_not_exact(tmp_path):
    """Fewer rows than words to tabulate, words wider than the table, or products of 2^24
    or more (float32 sums would round): the per-product path instead."""
    from axtrain_cli.hardware import products as layer

    m = hw.Table("exact_s8")
    w = _words((8, 30), -128, 128)
    assert layer.lookup(m.products, _words((4, 30), -128, 128), w, 8) is None  # 4 rows
    assert layer.lookup(m.products, _words((200, 30), -128, 128), w, None) is None
    assert layer.lookup(m.products, _words((200, 30), -128, 128), w * 2, 8) is None
    big = tmp_path / "big.npy"
    table = np.ones((256, 256), dtype=np.int64)
    table[3, 4] = 1 << 25
    np.save(big, table)
    t = hw.Table(str(big))
    assert layer.product_table(t.products, 8) is None
    x = _words((200, 30), -128, 128)
    assert layer.lookup(t.products, x, w, 8) is None
    assert torch.equal(layer.dense(t.products, x, w, 8),
                       layer.product_sums(t.products, x.long(), w.long()).double())
