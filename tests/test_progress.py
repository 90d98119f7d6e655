"""Progress off a terminal: a line at least every `interval` seconds of training, also
inside a long epoch, and a time-left estimate for the whole run."""

from __future__ import annotations

import logging
import time

import torch

from axtrain_cli import ui
from axtrain_cli.training import fit, make_optimizer


def test_a_long_epoch_logs_lines_inside_it(caplog):
    net = torch.nn.Linear(2, 2)
    x, y = torch.randn(40, 2), torch.randint(0, 2, (40,))

    def slow_step(net, xb, yb):  # a training step of 20 ms
        time.sleep(0.02)
        loss = net(xb).pow(2).mean()
        return loss, {"loss": loss.detach()}

    estimate = ui.RunEstimate(batches=2 * 10, batch_size=4, reads=0)
    progress = ui.LogProgress(interval=0.05, estimate=estimate)
    with caplog.at_level(logging.INFO, logger="axtrain"):
        fit(net, x, y, epochs=1, batch_size=4, optimizer=make_optimizer(
            net.parameters(), "sgd", 0.1), step=slow_step, generator=torch.Generator(),
            progress=progress, label="act")
    lines = [r.getMessage() for r in caplog.records]
    inside = [ln for ln in lines if ln.startswith("act 0.")]  # fractions of the epoch
    assert len(inside) >= 2, lines
    assert all("batches/s" in ln and "left in the run" in ln for ln in inside)
    assert lines[-1].startswith("act 1/1: loss=")
    # half the planned batches done: about as long again is left in the run
    assert 0.1 < estimate.left() < 0.5


def test_the_estimate_covers_training_and_the_sweep(monkeypatch):
    clock = iter(range(0, 1000))
    monkeypatch.setattr(ui.time, "monotonic", lambda: float(next(clock)))
    e = ui.RunEstimate(batches=10, batch_size=30, reads=900)
    e.start()
    e.trained(5)  # 1 s for 5 batches: 0.2 s a batch
    # 5 batches left (1 s) + 900 reads at a third of a training sample's 0.2/30 s (2 s)
    assert abs(e.left() - 3.0) < 1e-9
    e.trained(5)
    e.evaluated(300)  # the sweep's own rate from now: 1 s per 300 reads
    assert abs(e.left() - 2.0) < 1e-9
