"""Multipliers as circuits: the netlist evaluator against plain Python (no synthesis
needed), and, with Yosys (the `synth` extra, which `make install` installs), every
built-in model's generated circuit against its plain-integer reference, the relative
costs, a Verilog design as a knob, the cache and the bad inputs."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TINY, run_axtrain, run_cli

from axtrain_cli.hardware import MULTIPLIERS, synth
from axtrain_cli.hardware.circuits import Circuit, exact

# ------------------------------------------------------------- the evaluator, no synthesis
TINY_NET = {"modules": {"t": {
    "ports": {"a": {"direction": "input", "bits": [2, 3]},
              "b": {"direction": "input", "bits": [4, 5]},
              "y": {"direction": "output", "bits": [6, 7, 8, "0"]}},
    "cells": {"m": {"type": "$_MUX_", "connections": {"A": [2], "B": [3], "S": [4], "Y": [8]}},
              "x": {"type": "$_XOR_", "connections": {"A": [3], "B": [5], "Y": [7]}},
              "g": {"type": "$_AND_", "connections": {"A": [2], "B": [4], "Y": [6]}}}}}}
TINY_CIRCUIT = Circuit("", "t", signed=False)


def _tiny_model(a, b):
    a0, a1, b0, b1 = a & 1, a >> 1 & 1, b & 1, b >> 1 & 1
    return (a0 & b0) | (a1 ^ b1) << 1 | (a1 if b0 else a0) << 2


def test_netlist_evaluation_follows_the_gates_in_any_cell_order():
    net = synth.Netlist.from_json(TINY_NET, TINY_CIRCUIT, "test")
    pairs = [(a, b) for a in range(4) for b in range(4)] * 9  # 144 pairs: three words
    a, b = np.array(pairs).T
    want = [_tiny_model(x, y) for x, y in pairs]
    assert net.evaluate(a, b).tolist() == want
    assert [net.reference(x, y) for x, y in pairs] == want
    assert net.transistors == 12 + 12 + 6 and net.counts() == {"MUX": 1, "XOR": 1, "AND": 1}


def test_switching_counts_fan_out_weighted_toggles_between_consecutive_pairs():
    net = synth.Netlist.from_json(TINY_NET, TINY_CIRCUIT, "test")
    rng = random.Random(1)
    pairs = [(rng.randrange(4), rng.randrange(4)) for _ in range(200)]
    loads = {"a0": 2, "a1": 2, "b0": 2, "b1": 1, "y0": 1, "y1": 1, "y2": 1}

    def nets(a, b):
        y = _tiny_model(a, b)
        return {"a0": a & 1, "a1": a >> 1, "b0": b & 1, "b1": b >> 1,
                "y0": y & 1, "y1": y >> 1 & 1, "y2": y >> 2 & 1}

    want = sum(loads[k] * (nets(*p)[k] != nets(*q)[k])
               for p, q in zip(pairs, pairs[1:]) for k in loads) / (len(pairs) - 1)
    a, b = np.array(pairs).T
    assert net.switching(a, b) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("cell, message", [
    ({"type": "$_DLATCH_P_", "connections": {"E": [2], "D": [3], "Q": [9]}}, "a latch"),
    ({"type": "$_DFF_P_", "connections": {"C": [2], "D": [3], "Q": [9]}}, "a flip-flop"),
])
def test_sequential_cells_are_refused(cell, message):
    data = json.loads(json.dumps(TINY_NET))
    data["modules"]["t"]["cells"]["s"] = cell
    with pytest.raises(synth.SynthesisError, match=message):
        synth.Netlist.from_json(data, TINY_CIRCUIT, "test")


def test_a_combinational_loop_and_bad_ports_are_refused():
    data = json.loads(json.dumps(TINY_NET))
    cells = data["modules"]["t"]["cells"]
    cells["g"]["connections"]["B"] = [9]
    cells["h"] = {"type": "$_NOT_", "connections": {"A": [6], "Y": [9]}}
    with pytest.raises(synth.SynthesisError, match="loop"):
        synth.Netlist.from_json(data, TINY_CIRCUIT, "test")
    data = json.loads(json.dumps(TINY_NET))
    data["modules"]["t"]["ports"]["clk"] = {"direction": "input", "bits": [10]}
    with pytest.raises(synth.SynthesisError, match="clk"):
        synth.Netlist.from_json(data, TINY_CIRCUIT, "test")
    with pytest.raises(synth.SynthesisError, match="y='p'"):
        synth.Netlist.from_json(TINY_NET, Circuit("", "t", False, y="p"), "test")
    with pytest.raises(synth.SynthesisError, match="no module 'u'"):
        synth.Netlist.from_json(TINY_NET, Circuit("", "u", False), "test")


# ------------------------------------------------------------------ with Yosys installed


def _edge_words(bits):
    half = 1 << (bits - 1)
    edges = {0, 1, -1, half - 1, -half, -half + 1}
    for i in range(bits - 1):
        edges |= {1 << i, -(1 << i), (1 << i) + 1, (1 << i) - 1, -(1 << i) - 1}
    return sorted(e for e in edges if -half <= e < half)


def _pairs(bits, n, seed=0):
    if bits <= 8:
        w = np.arange(-(1 << (bits - 1)), 1 << (bits - 1))
        a, b = np.meshgrid(w, w, indexing="ij")
        return a.reshape(-1), b.reshape(-1)
    edges = _edge_words(bits)
    ea, eb = np.meshgrid(edges, edges, indexing="ij")
    ra, rb = synth.uniform_words(bits, n, seed)
    return np.concatenate([ea.reshape(-1), ra]), np.concatenate([eb.reshape(-1), rb])


MODELS = [("exact", {}), ("drum", {"k": 2}), ("drum", {"k": 3}), ("drum", {"k": 4}),
          ("drum", {"k": 5}), ("drum", {"k": 7}), ("truncation", {"k": 4}), ("mitchell", {})]


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("name, params", MODELS)
def test_each_built_in_circuit_equals_its_reference(name, params, bits):
    model = MULTIPLIERS.build({"name": name, **params}, bits)
    circuit = model.circuit(bits)
    net = synth.synthesize(circuit)
    a, b = _pairs(bits, 100_000)
    got = net.evaluate(*synth.operands(a, b, bits, circuit.signed))
    want = [model.reference(int(x), int(y)) for x, y in zip(a, b)]
    assert len(got) >= min(65_536, 100_000) and got.tolist() == want
    some = range(0, len(a), max(1, len(a) // 300))  # the gate-by-gate Python evaluation
    pa, pb = synth.operands(a[list(some)], b[list(some)], bits, circuit.signed)
    assert [net.reference(int(x), int(y)) for x, y in zip(pa, pb)] == [want[i] for i in some]


def test_relative_costs_exact_is_one_and_drum_grows_with_k():
    for bits in (8, 16):
        c = synth.relative_cost(exact(bits), bits)
        assert c["area"] == 1.0 and c["switching"] == 1.0 and c["tool"].startswith("Yosys")
    areas = [MULTIPLIERS.build({"name": "drum", "k": k}, 16).power_as("area", 16)
             for k in range(2, 9)]
    assert areas == sorted(areas) and len(set(areas)) == len(areas) and areas[-1] < 1
    sw = [MULTIPLIERS.build({"name": "drum", "k": k}, 16).power_as("switching", 16)
          for k in (2, 5, 8)]
    assert sw == sorted(sw) and sw[-1] < 1


def test_synthesis_is_cached_by_the_verilog_and_the_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("AXTRAIN_CACHE", str(tmp_path))
    circuit = MULTIPLIERS.build({"name": "drum", "k": 3}, 8).circuit(8)
    first = synth.synthesize(circuit)
    assert len(list((tmp_path / "synth").glob("*.json"))) == 1

    def no_tool(*a, **k):
        raise AssertionError("synthesis ran again")

    monkeypatch.setattr(synth.subprocess, "run", no_tool)
    again = synth.synthesize(circuit)
    assert again.gates == first.gates


# A design of the test's own: an 8-bit unsigned "broken array" multiplier that drops the
# partial products a_i b_j with i + j < 5 (no built-in model has it).
BROKEN = """
module broken8(input [7:0] x, input [7:0] w, output [15:0] p);
  reg [15:0] acc;
  integer i, j;
  always @* begin
    acc = 0;
    for (i = 0; i < 8; i = i + 1)
      for (j = 0; j < 8; j = j + 1)
        if (i + j >= 5) acc = acc + ((x[i] & w[j]) << (i + j));
  end
  assign p = acc;
endmodule
"""


def _broken(a, b):
    return sum(((a >> i) & (b >> j) & 1) << (i + j)
               for i in range(8) for j in range(8) if i + j >= 5)


@pytest.mark.regression  # end to end: runs, then report or synth
def test_a_verilog_design_becomes_a_knob(tmp_path):
    path = tmp_path / "broken8.v"
    path.write_text(BROKEN)
    model = MULTIPLIERS.build({"name": "verilog", "file": str(path), "signed": False}, 8)
    want = torch.tensor([[_broken(a, b) for b in range(256)] for a in range(256)])
    assert torch.equal(model.table, want)
    assert model.reference(-100, 77) == -_broken(100, 77)
    a = torch.randint(-128, 128, (500,))
    b = torch.randint(-128, 128, (500,))
    assert model.products(a, b).tolist() == [model.reference(int(x), int(y))
                                            for x, y in zip(a, b)]
    assert model.sha256 in model.parameters().values() and "sha256=" in model.label
    assert 0 < model.power() < 1  # its measured area: fewer partial products than exact

    knob = f"+knobs.mine={{multiplier: {{name: verilog, file: '{path}', signed: false}}}}"
    r = run_cli([*TINY, "hardware=fixed8", knob, "method=pas", "method.knob=mine",
                 "eval.knobs=[exact,mine]", "hardware.power_model=switching",
                 f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(tmp_path / "run" / "results.csv")
    mine = df[df.knob == "mine"].iloc[0]
    assert mine.multiplier_sha256 == model.sha256 and "sha256=" in mine.multiplier
    assert mine.compute_power == pytest.approx(model.power_as("switching", 8))
    r = run_axtrain(["report", str(tmp_path / "run"), "--no-plots"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = pd.read_csv(tmp_path / "run" / "report" / "runs_summary.csv")
    assert set(summary.knob) == {"exact", "mine"} and set(summary.train_knob) == {"mine"}


@pytest.mark.regression  # end to end: a run per bad design
@pytest.mark.parametrize("text, message", [
    (None, "no such Verilog file"),
    ("module broken8(input [7:0] x, output y; endmodule", "synthesis failed"),
    (BROKEN.replace("broken8", "other"), "broken8"),
    (BROKEN.replace("[7:0] w", "[3:0] w"), "differ in width"),
    ("module broken8(input [7:0] x, input [7:0] w, input e, output reg [15:0] p);\n"
     "  always @* if (e) p = x * w;\nendmodule\n", "latch"),
    ("module broken8(input clk, input [7:0] x, input [7:0] w, output reg [15:0] p);\n"
     "  always @(posedge clk) p <= x * w;\nendmodule\n", "flip-flop"),
])
def test_bad_verilog_is_one_line_exit_2(tmp_path, text, message):
    path = tmp_path / "broken8.v"
    if text is not None:
        path.write_text(text)
    knob = f"+knobs.mine={{multiplier: {{name: verilog, file: '{path}'}}}}"
    r = run_cli([*TINY, "hardware=fixed8", knob, "eval.knobs=[exact,mine]",
                 f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "knobs.mine.multiplier" in r.stderr
    assert not (tmp_path / "run" / "results.csv").exists()


def test_synth_command_prints_and_writes_the_table(tmp_path):
    r = run_axtrain(["synth", "knobs=drum_k", "--out", "drum.csv"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(tmp_path / "drum.csv")
    assert df.loc[df.multiplier == "exact", "area"].item() == 1.0
    assert "Yosys" in df.tool.iloc[0] and "written to drum.csv" in r.stdout
    assert {"mae_pct", "mre_pct"} <= set(df.columns) and "error on uniform signed" in r.stdout


def test_a_cost_reference_of_ones_own_is_what_area_and_switching_are_relative_to(tmp_path):
    """hardware.cost_reference: a design of the user's (an exact multiplier with a
    library's port names) is the 1.0 of area and switching; Yosys's `a * b` is the default;
    the reference needs a circuit model (not proxy) and a design that synthesises."""
    from axtrain_cli import knobs
    from axtrain_cli.errors import ConfigError
    from axtrain_cli.settings import HardwareConf

    ref = tmp_path / "ref.v"
    ref.write_text("module ref(A, B, O);\n  input signed [7:0] A;\n  input signed [7:0] B;\n"
                   "  output signed [15:0] O;\n  assign O = A * B;\nendmodule\n")
    h = HardwareConf(bits=8, cost_reference=str(ref))
    circuit = knobs.cost_reference(h)
    assert circuit.top == "ref" and circuit.signed
    drum = MULTIPLIERS.build({"name": "drum", "k": 3}, 8).circuit(8)
    base = synth.relative_cost(drum, 8)
    mine = synth.relative_cost(drum, 8, circuit)
    ratio = synth.synthesize(exact(8)).transistors / synth.synthesize(circuit).transistors
    assert mine["area"] == pytest.approx(base["area"] * ratio)
    assert synth.relative_cost(circuit, 8, circuit)["switching"] == 1.0
    assert knobs.reference_label(h).startswith(f"{ref} (sha256=")
    with pytest.raises(ConfigError, match="hardware.cost_reference.file="):
        knobs.cost_reference(HardwareConf(bits=8, cost_reference="nope.v"))
    r = run_cli([*TINY, "hardware=fixed8", f"hardware.cost_reference={ref}"], cwd=tmp_path)
    assert r.returncode == 2 and "allowed with hardware.power_model=area or switching" in r.stderr


def test_synth_states_the_error_on_the_operands_a_layer_gives(tmp_path):
    """An unsigned design is fed magnitudes of signed words, at most 128: one that errs only
    on operands above 128 has no error in use, whatever its error over 0..255."""
    from axtrain_cli.evaluation.cost import error_in_use

    a = np.arange(256)[:, None]
    table = np.where(a > 128, 0, a * np.arange(256)[None, :])
    np.save(tmp_path / "high.npy", table)
    model = MULTIPLIERS.build({"name": "table", "file": str(tmp_path / "high.npy"),
                               "signed": False}, 8)
    assert error_in_use(model, 8) == {"mae_pct": 0.0, "mre_pct": 0.0}
    drum = error_in_use(MULTIPLIERS.build({"name": "drum", "k": 2}, 8), 8)
    assert 10 < drum["mre_pct"] < 40 and drum["mae_pct"] > 0


def test_power_model_needs_a_circuit_and_a_valid_name(tmp_path):
    r = run_cli([*TINY, "hardware.power_model=watts", f"hydra.run.dir={tmp_path / 'r'}"],
                cwd=tmp_path)
    assert r.returncode == 2 and "hardware.power_model='watts'" in r.stderr
    assert "proxy" in r.stderr


def test_the_cost_tables_of_the_docs_are_the_scripts_output():
    from conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "multiplier_stats.py"),
                          "--cost"], capture_output=True, text=True, check=True).stdout
    for page in ("hardware.md", "reproduction.md"):
        assert out.strip() in (ROOT / "docs" / page).read_text(), page
    readme = (ROOT / "README.md").read_text()
    for line in out.splitlines():
        if line.startswith("| `drum(k=4)`") or line.startswith("| `mitchell`"):
            c = [x.strip() for x in line.strip("|").split("|")]
            assert f"| {c[0]}" in readme and f"| {c[3]} | {c[6]} | {c[7]} |" in readme


@pytest.mark.regression  # end to end: a pas run through the design
def test_the_readme_verilog_example_runs(tmp_path):
    """The README's EvoApprox command, on stand-in designs of the test's own with the
    library's port names (A, B, O): a signed product that drops the two lowest bits, and an
    exact one as the cost reference (which the rows name)."""
    import shlex

    from conftest import ROOT

    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if "mul8s_1KR6.v" in x and "axtrain train" in x)
    argv = shlex.split(line.strip())
    assert argv[:2] == ["axtrain", "train"]
    for name, body in (("mul8s_1KR6", "{p[15:2], 2'b00}"), ("mul8s_1KV8", "p")):
        (tmp_path / f"{name}.v").write_text(
            f"module {name}(A, B, O);\n  input signed [7:0] A;\n  input signed [7:0] B;\n"
            f"  output signed [15:0] O;\n  wire signed [15:0] p = A * B;\n"
            f"  assign O = {body};\nendmodule\n")
    r = run_cli([*argv[2:], *TINY[1:], f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(dict.fromkeys(df.knob)) == ["exact", "evo"]
    assert df.cost_reference.nunique() == 1
    assert df.cost_reference.iloc[0].startswith("mul8s_1KV8.v (sha256=")
    model = MULTIPLIERS.build({"name": "verilog", "file": str(tmp_path / "mul8s_1KR6.v")}, 8)
    w = torch.arange(-128, 128)
    a, b = w[:, None], w[None, :]
    assert torch.equal(model.products(a, b), ((a * b) >> 2) << 2)  # table[a & 255][b & 255]


@pytest.mark.regression  # end to end: runs, then report or synth
def test_the_report_recosts_compute_power_under_another_model(tmp_path):
    import pandas as pd

    from axtrain_cli.report.load import load_runs, recost

    for name, extra in (("proxy", []), ("area", ["hardware.power_model=area"])):
        r = run_cli([*TINY, "eval.knobs=[exact,K1,K3]", *extra,
                     f"hydra.run.dir={tmp_path / name}"], cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
    df = load_runs([tmp_path / "proxy"], print)
    again = recost(df, "area").groupby("knob")["compute_power"].mean()
    measured = pd.read_csv(tmp_path / "area" / "results.csv").groupby("knob")["compute_power"]
    assert again.to_dict() == pytest.approx(measured.mean().to_dict(), rel=1e-9)  # CSV digits
    assert again["K1"] == pytest.approx(MULTIPLIERS.build({"name": "drum", "k": 2}, 16)
                                        .power_as("area", 16))
    back = recost(load_runs([tmp_path / "area"], print), "proxy")
    assert back.groupby("knob")["compute_power"].mean()["K3"] == pytest.approx(0.14, abs=1e-9)
    # a partly approximate network (ApproxANN's): p = 1 - f (1 - r), f kept
    part = df[df.knob == "K1"].head(1).assign(compute_power=1 - 0.25 * (1 - 0.06))
    r_area = MULTIPLIERS.build({"name": "drum", "k": 2}, 16).power_as("area", 16)
    assert recost(part, "area")["compute_power"].item() == pytest.approx(1 - 0.25 * (1 - r_area))
    r = run_axtrain(["report", str(tmp_path / "proxy"), "--power-model", "switching",
                  "--no-plots", "--out", str(tmp_path / "rep")], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.regression  # end to end: runs, then report or synth
def test_recosting_a_multiplier_without_a_circuit_is_one_line(tmp_path):
    r = run_cli([*TINY, "knobs=tables", "hardware=fixed8", "eval.knobs=[exact,K2]",
                 f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_axtrain(["report", str(tmp_path / "run"), "--power-model", "area", "--no-plots",
                  "--out", str(tmp_path / "rep")], tmp_path)
    assert r.returncode == 2 and "has no circuit" in r.stderr and "--power-model area" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "rep").exists()
    r = run_cli([*TINY, "knobs=tables", "hardware=fixed8", "eval.knobs=[exact,K2]",
                 "hardware.power_model=area", f"hydra.run.dir={tmp_path / 'run2'}"],
                cwd=tmp_path)
    assert r.returncode == 2 and "has no circuit" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("groups, stride, padding, dilation", [
    (1, 1, 1, 1), (2, 2, 0, 1), (4, 1, 2, 2), (1, 1, "same", 1)])
def test_output_stationary_windows_hold_each_outputs_products(groups, stride, padding,
                                                              dilation):
    import torch.nn.functional as F
    from torch import nn

    from axtrain_cli.evaluation.cost import windows
    from axtrain_cli.hardware.layer import LayerCall

    m = nn.Conv2d(4, 8, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    qx = torch.randint(-50, 50, (2, 4, 9, 9)).double()
    qw = torch.randint(-50, 50, tuple(m.weight.shape)).double()
    cols, w, g = windows(qx, qw, LayerCall("conv", m))
    per = w.shape[0] // g
    sums = torch.stack([torch.stack([(cols[:, (o // per) * w.shape[1]:(o // per + 1)
                                          * w.shape[1], :] * w[o][None, :, None]).sum(1)
                                     for o in range(w.shape[0])], 1)])[0]
    want = F.conv2d(qx, qw, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert torch.equal(sums, want.flatten(2))
    fc = nn.Linear(5, 3)
    x, wt = torch.randint(-9, 9, (4, 5)).double(), torch.randint(-9, 9, (3, 5)).double()
    cols, w, g = windows(x, wt, LayerCall("fc", fc))
    assert torch.equal((cols * w.T[None]).sum(1), x @ wt.T)


@pytest.mark.regression  # end to end: runs, then report or synth
def test_synth_on_a_runs_own_operands(tmp_path):
    r = run_cli([*TINY, "eval.knobs=[exact]", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_axtrain(["synth", f"run={tmp_path / 'run'}", "--out", "s.csv"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    t = pd.read_csv(tmp_path / "s.csv").set_index("multiplier")
    assert t.loc["exact", "switching_network"] == 1.0
    assert (t.switching_network > 0).all() and t.loc["drum(k=2)", "switching_network"] < 1
    r = run_axtrain(["synth", f"run={tmp_path / 'nothing'}"], tmp_path)
    assert r.returncode == 2 and "no model.pt" in r.stderr


@pytest.mark.regression  # end to end: runs, then report or synth
def test_a_missing_or_unreadable_tool_is_one_line(tmp_path):
    path = tmp_path / "broken8.v"
    path.write_text(BROKEN)
    knob = f"+knobs.mine={{multiplier: {{name: verilog, file: '{path}', signed: false}}}}"
    args = [*TINY, "hardware=fixed8", knob, "eval.knobs=[exact,mine]",
            f"hydra.run.dir={tmp_path / 'run'}"]
    env = {"AXTRAIN_CACHE": str(tmp_path / "cache")}
    r = run_cli(args, tmp_path, {**env, "AXTRAIN_YOSYS": str(tmp_path / "no-such-yosys")})
    assert r.returncode == 2 and "synthesis is not installed" in r.stderr
    assert "pip install" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    fake = tmp_path / "fake-yosys"  # answers -V like Yosys, writes a netlist of another form
    fake.write_text("#!/bin/sh\nif [ \"$1\" = -V ]; then echo 'Yosys 9.99'; exit 0; fi\n"
                    "echo '{\"modules\": {\"broken8\": {\"ports\": 3}}}' > netlist.json\n")
    fake.chmod(0o755)
    r = run_cli(args, tmp_path, {**env, "AXTRAIN_YOSYS": str(fake)})
    assert r.returncode == 2 and "cannot be read" in r.stderr and "Yosys 9.99" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli([*TINY, "hardware.power_model=area", f"hydra.run.dir={tmp_path / 'r2'}"],
                tmp_path, {**env, "AXTRAIN_YOSYS": str(tmp_path / "no-such-yosys")})
    assert r.returncode == 2 and "hardware.power_model=area" in r.stderr
    assert "synthesis is not installed" in r.stderr


def test_a_16_bit_verilog_design_multiplies_on_its_netlist(tmp_path):
    for signed in (True, False):
        path = tmp_path / f"exact_{signed}.v"
        circuit = exact(16, signed)
        path.write_text(circuit.verilog)
        model = MULTIPLIERS.build({"name": "verilog", "file": str(path), "top": circuit.top,
                                   "signed": signed}, 16)
        assert model.table is None  # wider than 8 bits: per product on the netlist
        a = torch.randint(-(1 << 15), 1 << 15, (3000,))
        b = torch.randint(-(1 << 15), 1 << 15, (3000,))
        assert torch.equal(model.products(a[:, None], b[None, :50]), a[:, None] * b[None, :50])
        assert [model.reference(int(x), int(y)) for x, y in zip(a[:20], b[:20])] == \
            (a[:20] * b[:20]).tolist()
