"""AxTrain-act (paper section 3.1): E_tot = E + gamma * S(w) (Eq. 4), S of Eq. 5 on the
sigmoid outputs, its gradient Eq. 6 by autograd; gamma adapted once per epoch (3.1.3).
With `checkpoint`, an earlier act run's network is evaluated instead of trained."""

from __future__ import annotations

import torch

from ..evaluation.sensitivity import Tape, network_sensitivity
from ..settings.methods import ActConf, ActRunConf
from ..training import Step, loss_per_sample
from .base import Context, Trained, check_checkpoint, fit_net, load_start


def check(cfg) -> None:
    check_checkpoint(cfg)


def act_step(loss: str, n_classes: int, gamma, per_sample: bool = True,
             outputs: torch.Generator | None = None) -> Step:
    """E + gamma * S(w): output error plus the sensitivity regulariser (Eq. 4).

    `gamma` is a callable returning the current preference factor. The gradient of S is
    what autograd gives for Eq. 5, i.e. the paper's Eq. 6 with its Hessian-vector term.
    `outputs`: a generator to sample one output per sample from (`network_sensitivity`)."""

    def step(net, xb, yb):
        tape = Tape(net)
        z = net.logits(xb, tape=tape)
        e = loss_per_sample(z, yb, loss, n_classes).mean()
        g = gamma()
        # At gamma = 0 the regulariser adds nothing to the gradient (0 * dS/dw): S is then
        # only logged, computed without an autograd graph (no second-order backward; the
        # same gradients, the same draws from `outputs`).
        with torch.set_grad_enabled(g > 0 and torch.is_grad_enabled()):
            s = network_sensitivity(net, xb, per_sample=per_sample, forward=(z, tape),
                                    outputs=outputs)
        objective = e + g * s if g > 0 else e
        err = (z.argmax(-1) != yb).float().mean()
        return objective, {"loss": e.detach(), "sensitivity": s.detach(), "error_rate": err}

    return step


class AdaptiveGamma:
    """Section 3.1.3, once per epoch: with A_n = 0.5 E_{n-1} + 0.25 E_{n-2} + ... (A_1 = 0),
    gamma += delta if E_n < A_n or E_n < bound, else gamma -= delta; gamma >= 0.
    E is the epoch's mean training loss or misclassification rate (`metric`)."""

    def __init__(self, gamma0: float, delta: float, bound: float, metric: str = "loss"):
        self.gamma, self.delta, self.bound, self.metric = gamma0, delta, bound, metric
        self.avg = 0.0

    def __call__(self) -> float:
        return self.gamma

    def state_dict(self) -> dict:
        return {"gamma": self.gamma, "avg": self.avg}

    def load_state_dict(self, state: dict) -> None:
        self.gamma, self.avg = state["gamma"], state["avg"]

    def on_epoch(self, epoch: int, record: dict) -> None:
        e = record["loss" if self.metric == "loss" else "error_rate"]
        record["gamma"] = self.gamma  # the gamma used during this epoch
        record["weighted_past_error"] = self.avg
        if e < self.avg or e < self.bound:
            self.gamma += self.delta
        else:
            self.gamma = max(0.0, self.gamma - self.delta)
        self.avg = 0.5 * e + 0.5 * self.avg


def train_act(net, ctx: Context, a: ActConf, label: str = "act") -> tuple[list[dict], float]:
    """act with the settings `a` for train.epochs; returns (history, final gamma)."""
    t = ctx.cfg.train
    gamma = AdaptiveGamma(a.gamma0, a.delta_gamma, a.error_bound, a.error_metric)
    step = act_step(t.loss, ctx.split.n_classes, gamma, per_sample=a.sensitivity == "per_sample",
                    outputs=ctx.draw_generator if a.outputs == "sampled" else None)
    history = fit_net(net, ctx, step, t.epochs, t.lr, label, gamma.on_epoch, stateful=gamma)
    return history, gamma.gamma


def train(net, ctx: Context) -> Trained:
    if ctx.m.checkpoint:
        load_start(net, ctx)
        return Trained(net)
    history, gamma = train_act(net, ctx, ctx.m)
    return Trained(net, history=history, figures={"final_gamma": gamma})


Conf = ActRunConf  # the method's schema, under the name the registry reads
