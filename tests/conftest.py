import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from axtrain_cli.cli import config_dir
from axtrain_cli.schema import register_configs

ROOT = Path(__file__).resolve().parents[1]
AXTRAIN = [sys.executable, "-m", "axtrain_cli.cli", "train"]
# Tiny settings for CLI runs: a few epochs, a few NTV draws.
TINY = ["dataset=breast_cancer", "train.epochs=2", "eval.trials=3", "progress=off"]


@pytest.fixture(scope="session")
def compose_cfg():
    """compose_cfg(overrides) -> the composed job config (Hydra's compose API)."""
    register_configs()

    def _compose(overrides=()):
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


def run_cli(args, cwd, env_extra=None, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "2", **(env_extra or {})}
    return subprocess.run([*AXTRAIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


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
