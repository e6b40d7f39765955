"""What several test modules share that is not a fixture: running seqlib as a user
does (a subprocess, or main() in this process), reading its one-line errors, and
reading TensorBoard's event files. Fixtures live in conftest.py."""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

from seqlib.cli.tfimport import NATIVE_STARTUP_LOG

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


def run_main_here(*args):
    """`seqlib.cli.main.main(ARGS)` in this test process, where TensorFlow is already
    imported (a subprocess spends about 8 s importing it). For commands whose
    behaviour after the import is tested (resuming, say), not how a process starts
    and ends. Returns what run_seqlib does: returncode, stdout and stderr as bytes."""
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


def events(path):
    """Every event of one TensorBoard event file."""
    import tensorflow as tf

    return list(tf.compat.v1.train.summary_iterator(str(path)))


def summaries(log_dir):
    """{tag: plugin name} of every summary in the event files under log_dir, each tag
    prefixed by its event file's folder (`train/`, `validation/`, `translations/`)."""
    found = {}
    for path in log_dir.rglob("events.out.tfevents.*"):
        for event in events(path):
            for value in event.summary.value:
                found[f"{path.parent.name}/{value.tag}"] = value.metadata.plugin_data.plugin_name
    return found


def hparams_records(log_dir):
    """HParams plugin data (HParamsPluginData) of the event files directly in log_dir."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    records = []
    for path in log_dir.glob("events.out.tfevents.*"):
        for event in events(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    records.append(plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content))
    return records
