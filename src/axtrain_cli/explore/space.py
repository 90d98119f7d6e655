"""The design space of `axtrain explore`: one multiplier of a library per layer.

An assignment is a tuple of library indices, one per unit (a layer with a stored weight,
in the order the forward calls them). `Space` evaluates one on the validation part of the
training data, costs it (each layer's multiplier's power times its multiplications, the
products of two activations on the exact multiplier), and turns it into a knob with
per-layer entries.

Candidates share work: a layer's output depends only on the multipliers of the layers the
forward called before it and its own, so `PrefixPlan` keeps each layer's output per
validation batch keyed by that prefix of the assignment, in a bounded least-recently-used
cache, and a candidate that changes only late layers recomputes only those. This holds
when every layer runs once per forward (no shared layers); otherwise nothing is cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..knobs import Knob
from ..networks import HwPlan, make_plan
from ..training import loss_per_sample


@dataclass(frozen=True)
class Entry:
    """A multiplier of the library: the knob it came from, its model, its config entry
    (for the knob YAMLs) and its power relative to the exact multiplier."""

    knob: str
    multiplier: object
    spec: dict
    power: float

    @property
    def label(self) -> str:
        return self.multiplier.label


class PrefixPlan(HwPlan):
    """A plan whose layer outputs are kept per (batch, layer, assignment prefix)."""

    cache, assignment, batch = None, (), 0

    def bind(self, cache: "Cache", assignment: tuple, batch: int) -> None:
        self.cache, self.assignment, self.batch = cache, assignment, batch

    def layer(self, i, call, x, rows=None):
        if self.cache is None or rows is not None:
            return super().layer(i, call, x, rows)
        key = (self.batch, i, self.assignment[:i + 1])
        y = self.cache.get(key)
        if y is None:
            y = super().layer(i, call, x, rows)
            self.cache.put(key, y)
        return y.clone()  # the model may change it in place (an in-place ReLU)


class Cache:
    """Least recently used layer outputs, at most `limit` bytes."""

    def __init__(self, limit: int):
        self.limit, self.size, self.data = limit, 0, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key):
        y = self.data.get(key)
        if y is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return y

    def put(self, key, y: torch.Tensor) -> None:
        n = y.numel() * y.element_size()
        if n > self.limit:
            return
        self.data[key] = y
        self.size += n
        while self.size > self.limit:
            _, old = self.data.popitem(last=False)
            self.size -= old.numel() * old.element_size()


class Space:
    """net: the trained Network (evaluation mode); x, y: the validation data; ranges: the
    activations' fraction lengths (measured on the training part); library: the Entries,
    one of them exact; cache_mb: the layer-output cache's bound (0: none)."""

    def __init__(self, net, x, y, n_classes: int, loss: str, ranges, bits: int,
                 weight_format: str, library: list[Entry], batch: int = 1000,
                 cache_mb: int = 1024):
        self.net, self.x, self.y, self.n_classes, self.loss = net, x, y, n_classes, loss
        self.library, self.batch = library, batch
        self.names = [u.name for u in net.units]
        self.exact = next(i for i, e in enumerate(library) if e.multiplier.exact)
        with torch.no_grad():
            self.plans = [make_plan(net, Knob(e.knob, e.multiplier), bits, ranges,
                                    weight_format=weight_format) for e in library]
        self.ranges, self.bits = ranges, bits
        mults = net.mult_counts()
        self.pair_mults = net.pair_mults() if net.pairs else 0
        self.total = sum(mults) + self.pair_mults
        self.mults = mults
        once = all(u.calls == 1 for u in net.units)
        self.cache = Cache(cache_mb << 20) if cache_mb > 0 and once else None
        self.evaluations, self.seconds = 0, 0.0

    def power(self, a: tuple) -> float:
        """Compute power relative to the all-exact network."""
        return (sum(m * self.library[j].power for m, j in zip(self.mults, a))
                + self.pair_mults) / self.total

    def uniform(self, j: int) -> tuple:
        return (j,) * len(self.names)

    def plan(self, a: tuple) -> PrefixPlan:
        first = self.plans[self.exact]
        return PrefixPlan(bits=self.bits, multiplier=self.library[self.exact].multiplier,
                          weights=[self.plans[j].weights[i] for i, j in enumerate(a)],
                          weight_fl=first.weight_fl, biases=first.biases, ranges=self.ranges,
                          multipliers=[self.library[j].multiplier for j in a])

    @torch.no_grad()
    def evaluate(self, a: tuple) -> tuple[float, float]:
        """(accuracy, loss) of assignment `a` on the validation data."""
        start = time.perf_counter()
        plan = self.plan(a)
        correct = total_loss = 0.0
        self.net.eval()
        for b, s in enumerate(range(0, len(self.x), self.batch)):
            plan.bind(self.cache, tuple(a), b)
            z = self.net.logits(self.x[s:s + self.batch], plan)
            yb = self.y[s:s + self.batch]
            total_loss += float(loss_per_sample(z, yb, self.loss, self.n_classes).sum())
            correct += float((z.argmax(-1) == yb).sum())
        self.evaluations += 1
        self.seconds += time.perf_counter() - start
        return correct / len(self.x), total_loss / len(self.x)

    def knob(self, name: str, a: tuple) -> Knob:
        """The assignment as a knob: the exact multiplier, each other layer its own."""
        from ..knobs import Layers

        exact = self.library[self.exact].multiplier
        return Knob(name, exact, layers=tuple(
            Layers(n, self.library[j].multiplier) for n, j in zip(self.names, a)
            if j != self.exact))

    def knob_spec(self, a: tuple) -> dict:
        """The assignment as a knob's config entry (what conf/knobs files hold)."""
        return {"multiplier": {"name": "exact"},
                "layers": {n: {"multiplier": dict(self.library[j].spec)}
                           for n, j in zip(self.names, a) if j != self.exact}}

    def labels(self, a: tuple) -> dict:
        return {f"layer:{n}": self.library[j].label for n, j in zip(self.names, a)}
