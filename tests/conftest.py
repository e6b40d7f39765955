import os
import subprocess
import sys
from pathlib import Path

import pytest

# Before seqlib.cli.tfimport, whose own default (3) is for users, not for the tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow's C++ start-up lines (oneDNN, CUDA probing): not seqlib's, so not counted.
from seqlib.cli.tfimport import NATIVE_STARTUP_LOG  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# The slowest modules first, measured (CPU seconds a module, 2026-12-01, AMD EPYC 2 cores:
# cli 224, distribute 197, reliability 182, bench 136, transformer 121, gpu_path 106,
# translator 66, hardware 42, evaluate 38, model 31; the rest under 30 each). pytest-xdist
# hands out the xdist_group groups first (the largest first), then single tests in
# collection order: with the long ones at the front, the quick ones fill the end of the run
# instead of one worker finishing a 100-second test while the other core idles.
SLOWEST_FIRST = (
    "test_bench.py",
    "test_reliability.py",
    "test_transformer.py",
    "test_cli.py",
    "test_translator.py",
    "test_hardware.py",
    "test_evaluate.py",
    "test_model.py",
    "test_rundir.py",
    "test_labs.py",
    "test_tensorboard.py",
    "test_check.py",
    "test_search.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FIRST)))  # stable: a module keeps its order


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


def run_main_here(*args):
    """`seqlib.cli.main.main(ARGS)` in this test process, where TensorFlow is already
    imported (a subprocess spends about 8 s importing it). For commands whose
    behaviour after the import is tested (resuming, say), not how a process starts
    and ends. Returns what run_seqlib does: returncode, stdout and stderr as bytes."""
    import contextlib
    import io

    from seqlib.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main([str(arg) for arg in args])
        except SystemExit as exit:  # argparse's usage errors
            status = exit.code
    return subprocess.CompletedProcess(args, status, stdout.getvalue().encode(), stderr.getvalue().encode())


# main(ARGS) in a fresh interpreter that fails ("TensorFlow was imported", status 1)
# if the command imported TensorFlow: proof that a check came before the slow import.
WITHOUT_TENSORFLOW = """
import sys
from seqlib.cli.main import main
try:
    status = main(sys.argv[1:])
except SystemExit as exit:  # argparse's usage errors
    status = exit.code
if "tensorflow" in sys.modules:
    sys.exit("TensorFlow was imported")
sys.exit(status)
"""


def run_main_without_tensorflow(*args, input=b"", prelude=""):
    """Runs `seqlib.cli.main.main(ARGS)` in a subprocess that must not import TensorFlow.

    prelude: Python code run first (e.g. to make a module unimportable).
    """
    return subprocess.run(
        [sys.executable, "-c", prelude + WITHOUT_TENSORFLOW, *map(str, args)],
        input=input,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )


def one_line_error(done):
    """The single line a failed command wrote on stderr (no traceback, nothing else)."""
    stderr = done.stderr.decode("utf-8")
    lines = [line for line in stderr.splitlines() if line.strip() and not NATIVE_STARTUP_LOG.match(line)]
    assert "Traceback" not in stderr and len(lines) == 1, stderr[-3000:]
    return lines[0]


def shared_folder(tmp_path_factory):
    """A folder all pytest-xdist workers of this session see (the session's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_run(tmp_path_factory, name, train):
    """A run directory made once a test session, by the first pytest-xdist worker that
    needs it; the other workers wait for it on a lock and reuse it. Tests only read
    it: one that changes a run works on a copy (shutil.copytree)."""
    import fcntl

    folder = shared_folder(tmp_path_factory)
    run_dir, done = folder / name, folder / f"{name}.done"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            train(run_dir)
            done.touch()
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny model trained in-process for the whole test session (about 15 s)."""
    from seqlib.config import PRESETS
    from seqlib.training.train import train

    return shared_run(tmp_path_factory, "tiny_run", lambda run_dir: train(PRESETS["tiny"].replace(epochs=2), run_dir, verbose=0))


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory):
    """A tiny model trained once a session by the command line, as a user would (1 epoch of 2,000 pairs)."""

    def train_by_the_command_line(run_dir):
        done = run_seqlib("train", "--config", "tiny", "--out", run_dir, "--epochs", "1", "--max-pairs", "2000")
        assert done.returncode == 0, done.stderr.decode()[-3000:]

    return shared_run(tmp_path_factory, "cli_run", train_by_the_command_line)


@pytest.fixture(scope="session")
def tiny_translator(tiny_run):
    from seqlib.rundir import load_translator

    return load_translator(tiny_run)


@pytest.fixture(scope="session")
def transformer_run(tmp_path_factory):
    """A tiny transformer trained once a session through the command line's main (1 epoch of 1,500 pairs)."""

    def train_by_the_command_line(run_dir):
        done = run_main_here(
            "train", "--config", "tiny", "--arch", "transformer", "--out", run_dir, "--epochs", "1", "--max-pairs", "1500"
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]

    return shared_run(tmp_path_factory, "transformer_run", train_by_the_command_line)


@pytest.fixture(scope="session")
def transformer_translator(transformer_run):
    from seqlib.rundir import load_translator

    return load_translator(transformer_run)
