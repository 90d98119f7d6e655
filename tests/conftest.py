import os
import subprocess
import sys
from pathlib import Path

import pytest

from axtrain_cli.cli.compose import compose, to_settings

ROOT = Path(__file__).resolve().parents[1]
AXTRAIN = [sys.executable, "-m", "axtrain_cli.cli", "train"]
# Tiny settings for CLI runs: a few epochs, a few NTV draws.
TINY = ["dataset=breast_cancer", "train.epochs=2", "eval.trials=3", "progress=off"]


@pytest.fixture(scope="session")
def compose_cfg():
    """compose_cfg(overrides) -> the Settings of the composed job config (Hydra's compose
    API, then the command line's conversion), not validated."""

    def _compose(overrides=()):
        return to_settings(compose(list(overrides)), list(overrides))

    return _compose


def run_axtrain(args, cwd, env_extra=None, timeout=600):
    """`axtrain ARGS...` (any command) in a fresh process, output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "axtrain_cli.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def run_cli(args, cwd, env_extra=None, timeout=600):
    """`axtrain train ARGS...`."""
    return run_axtrain(["train", *args], cwd, env_extra, timeout)


def readme_commands() -> list[list[str]]:
    """The `axtrain ...` commands of the README's bash blocks, as argv lists (comments
    dropped, backslash continuations joined), in the order the README shows them."""
    import re
    import shlex

    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                argv = shlex.split(line, comments=True)
                assert argv[0] == "axtrain", line
                commands.append(argv[1:])
    return commands


def make_cifar(path, per_batch: int = 40, test: int = 60, seed: int = 0, *, record=3073,
               label_max: int = 9):
    """A CIFAR-10 binary archive (cifar-10-binary.tar.gz's layout) with few records: each
    image a class colour plus noise, so that a network can learn something."""
    import io
    import tarfile

    import numpy as np

    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (10, 3, 1, 1))

    def batch(n):
        labels = rng.integers(0, label_max + 1, n)
        images = np.clip(colours[labels % 10] + rng.normal(0, 40, (n, 3, 32, 32)), 0, 255)
        recs = np.concatenate([labels[:, None], images.reshape(n, -1)], 1).astype(np.uint8)
        return recs.tobytes()[:n * record] if record <= 3073 else recs.tobytes() + b"\0" * n

    with tarfile.open(path, "w:gz") as tar:
        for name, n in [*((f"data_batch_{i}.bin", per_batch) for i in range(1, 6)),
                        ("test_batch.bin", test)]:
            data = batch(n)
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
