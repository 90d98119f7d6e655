"""Interrupted training resumes: a run keeps a resumable state of its training in its dir
(`.train_state.pt`) and a rerun of the same config there continues from it, giving the
same results as a run that was never interrupted.

Every method trains through `methods.base.fit_net`, one phase per call (bp; act; a pas
fine-tune per knob; an ApproxANN retraining, ...), in an order its code fixes. The state
holds each finished phase's end (the network's weights, the phase's history, the random
generators' states, the state of an adaptive setting such as act's gamma) and the current
phase's last saved epoch (the same, plus the optimiser's state). A rerun replays the
method: a finished phase is not trained again but restored, the current one continues at
the epoch after the saved one, and the code between phases runs again on the same
inputs. The state is saved every `train.save_every` minutes, also part-way through a long
epoch (with the epoch's batch order and the batches done; 0: at the end of every epoch),
and at the end of every phase, written whole or not at all (a temporary file renamed), and
removed once the run's results are committed. A state of another config is not used (a
warning); Ctrl-C keeps the last saved state and says how much work since it is lost.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import torch

from ..results import atomic_write_bytes
from ..results.identity import NOT_RESULTS, flat, short_hash

log = logging.getLogger("axtrain")
FILE = ".train_state.pt"
# Keys that change neither the training nor its results: the state of a run with other
# values of these is used as it is.
NOT_TRAINING = (*NOT_RESULTS, "checkpoint")


def config_key(cfg) -> str:
    values = {k: v for k, v in flat(cfg).items()
              if not any(k == n or k.startswith(n + ".") for n in NOT_TRAINING)}
    return short_hash(json.dumps(values, sort_keys=True, default=str))


class TrainingState:
    """The resumable state of one run's training, in `out_dir`; see the module docstring.
    `generators`: the random generators whose states every save carries (the training that
    draws from them may set them later, before its first phase)."""

    def __init__(self, out_dir, cfg, generators: list[torch.Generator] = ()):
        self.path = Path(out_dir) / FILE
        self.key = config_key(cfg)
        self.every = 60.0 * float(cfg.train.save_every)
        self.generators = [g for g in generators if g is not None]
        self.done: dict[str, dict] = {}
        self.current: dict | None = None
        self.seen: dict[str, int] = {}
        self.saved_at = self.started = time.monotonic()
        self.saves = 0
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:
            log.warning("%s cannot be read (%s): training starts over", self.path,
                        type(e).__name__)
            return
        if state.get("key") != self.key:
            log.warning("%s holds the training of another config: training starts over "
                        "(the file is replaced at the next save)", self.path)
            return
        self.done, self.current = state["done"], state["current"]
        where = (f", {self.current['phase']} at epoch {self.current['epoch']}"
                 if self.current else "")
        log.info("resuming the training saved in %s: %d phases done%s", self.path,
                 len(self.done), where)

    # -------------------------------------------------------------------- the phases
    def phase(self, label: str) -> str:
        """The key of the next phase called `label` (`label#n` for its n-th occurrence)."""
        n = self.seen.get(label, 0)
        self.seen[label] = n + 1
        return f"{label}#{n}"

    def finished(self, key: str, net, stateful=None) -> list[dict] | None:
        """A finished phase restored (its network, generators and `stateful`): its history;
        None if the phase has not finished."""
        end = self.done.get(key)
        if end is None:
            return None
        net.load_state_dict(end["net"])
        self._restore(end, stateful)
        log.info("phase %s restored from the saved training", key)
        return end["history"]

    def resumed(self, key: str, net, optimizer, stateful=None
                ) -> tuple[int, list[dict], dict | None]:
        """(first epoch to run, history so far, where inside that epoch or None) of phase
        `key`: from the saved state if it stopped inside this phase, else (1, [], None)."""
        cur = self.current
        if cur is None or cur["phase"] != key:
            return 1, [], None
        net.load_state_dict(cur["net"])
        optimizer.load_state_dict(cur["optimizer"])
        self._restore(cur, stateful)
        inside = cur.get("inside")
        log.info("phase %s resumes at epoch %d%s", key, cur["epoch"] + 1,
                 f", after its batch {inside['batch']}" if inside else "")
        return cur["epoch"] + 1, list(cur["history"]), inside

    def after_epoch(self, key: str, epoch: int, history: list[dict], net, optimizer,
                    stateful=None) -> None:
        """Save the phase's progress when `train.save_every` has passed since the last save."""
        if time.monotonic() - self.saved_at < self.every:
            return
        self._save_current(key, epoch, None, history, net, optimizer, stateful)

    def inside_epoch(self, key: str, epoch: int, point: dict, history: list[dict], net,
                     optimizer, stateful=None) -> None:
        """Save part-way through epoch `epoch` (after the batch `point` names) when
        `train.save_every` (> 0) has passed since the last save: a long epoch loses at most
        that much training."""
        if not self.every or time.monotonic() - self.saved_at < self.every:
            return
        inside = {"order": point["order"].clone(), "batch": point["batch"],
                  "sums": dict(point["sums"])}
        self._save_current(key, epoch - 1, inside, history, net, optimizer, stateful)

    def _save_current(self, key, epoch, inside, history, net, optimizer, stateful) -> None:
        self.current = {"phase": key, "epoch": epoch, "inside": inside,
                        "history": list(history), "net": _copy(net.state_dict()),
                        "optimizer": optimizer.state_dict(), **self._capture(stateful)}
        self.save()

    def end(self, key: str, history: list[dict], net, stateful=None) -> None:
        """Record phase `key` as finished and save."""
        self.done[key] = {"history": list(history), "net": _copy(net.state_dict()),
                          **self._capture(stateful)}
        self.current = None
        self.save()

    # ------------------------------------------------------------------------ files
    def save(self) -> None:
        buf = io.BytesIO()
        torch.save({"key": self.key, "done": self.done, "current": self.current}, buf)
        atomic_write_bytes(self.path, buf.getvalue())
        self.saved_at = time.monotonic()
        self.saves += 1

    def interrupted(self) -> "Interrupted":
        """What a Ctrl-C now loses: the training since the last save (or since the start)."""
        now = time.monotonic()
        return Interrupted(self.path if self.path.is_file() else None, now - self.saved_at,
                           now - self.started, self.every / 60)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def _capture(self, stateful) -> dict:
        return {"generators": [g.get_state() for g in self.generators],
                "torch_rng": torch.get_rng_state(),
                "stateful": stateful.state_dict() if stateful is not None else {}}

    def _restore(self, saved: dict, stateful) -> None:
        for g, s in zip(self.generators, saved["generators"]):
            g.set_state(s)
        torch.set_rng_state(saved["torch_rng"])
        if stateful is not None:
            stateful.load_state_dict(saved["stateful"])


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: `saved` the resumable state's file (None: nothing saved yet),
    `since_save` seconds of training not in it, `trained` seconds of training in all,
    `every` train.save_every (minutes)."""

    def __init__(self, saved, since_save: float, trained: float, every: float):
        super().__init__("interrupted")
        self.saved, self.since_save, self.trained, self.every = saved, since_save, trained, every

    def message(self, rerun: str) -> str:
        """One line: what is kept and lost, and how to continue (`rerun`: the key=value that
        names the dir, e.g. hydra.run.dir=DIR)."""
        from ..ui import duration

        every = f"train.save_every={self.every:g}"
        if self.saved is None:
            return (f"interrupted after {duration(self.trained)} of training, none of it saved "
                    f"(with {every} minutes the first save comes after that long, or at the "
                    "end of a phase; a smaller train.save_every saves more often)")
        return (f"interrupted; the training saved in {self.saved} continues when the same "
                f"command runs with {rerun} (the {duration(self.since_save)} since its last "
                f"save are lost; {every} minutes)")


def _copy(state: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state.items()}
