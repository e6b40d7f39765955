import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def run_seqlib(*args, input=None, cwd=ROOT, env=None, timeout=300):
    """Runs `python -m seqlib ARGS` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "seqlib", *map(str, args)],
        input=input,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny model trained once for the whole test session (about 15 s)."""
    from seqlib.config import PRESETS
    from seqlib.train import train

    run_dir = tmp_path_factory.mktemp("tiny_run")
    train(PRESETS["tiny"].replace(epochs=2), run_dir, verbose=0)
    return run_dir


@pytest.fixture(scope="session")
def tiny_translator(tiny_run):
    from seqlib.rundir import load_translator

    return load_translator(tiny_run)
