"""Importing TensorFlow for the command line: quietly, no more than a verb needs,
and with a one-line error where TensorFlow or tensorflow-text cannot be imported.

Nothing here imports TensorFlow at module level: the command line checks its
arguments first, and TensorFlow's import is most of a short command's time.
"""

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

from seqlib.errors import SeqlibError, first_line

# TensorFlow's native log stays off (set TF_CPP_MIN_LOG_LEVEL=0 to see it): its
# start-up lines about CUDA and oneDNN say nothing a seqlib user can act on, and
# errors that matter reach seqlib as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Lines TensorFlow's libraries print while loading, before its log settings apply.
NATIVE_STARTUP_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )"
)
# The import names of what seqlib needs, and the names pip installs them by.
REQUIRED = {"tensorflow": "tensorflow", "tensorflow_text": "tensorflow-text"}
PLATFORMS = "seqlib runs on Linux x86-64, macOS arm64 and Colab; on Windows use WSL2"
# Keras imports these when TensorFlow loads, if they are installed, for features
# seqlib's serving never uses (plotting image galleries; slicing DataFrames fed to
# fit). Both imports are optional in Keras (`except ImportError`), so hiding them
# while TensorFlow loads costs those features nothing else and saves about a second
# (matplotlib.pyplot 0.7 s, pandas 0.3 s on the project's 2-core AMD EPYC).
SERVING_NEEDS_NOT = ("matplotlib", "pandas")


class MissingDependency(SeqlibError):
    """TensorFlow or tensorflow-text is not installed, or cannot load on this machine."""


def load_tensorflow(for_serving=False, collective_ops=False):
    """Imports TensorFlow and tensorflow-text for a command.

    Args:
        for_serving: the command only loads and runs a trained model (translate,
            export), so Keras's optional plotting and DataFrame support are left out.
        collective_ops: the command will configure collective ops (multi-worker
            training), which TensorFlow allows only before the first op runs, so
            no op runs here (oneDNN's note on bools may then reach stderr).

    Raises:
        MissingDependency: one of them is not installed (looked up before the
            slow import) or fails to load; the message says where seqlib runs.
    """
    for module, package in REQUIRED.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken install, or a module set to None
            found = False
        if not found:
            raise MissingDependency(
                f"{package} is not installed (or has no build for this platform): {PLATFORMS}; "
                "install with pip install -r requirements.txt"
            )
    hidden = SERVING_NEEDS_NOT if for_serving else ()
    try:
        try:
            import_tensorflow_quietly(hidden, run_an_op=not collective_ops)
        except ImportError:
            if not hidden:
                raise
            # Perhaps a Keras that needs what we hid: import everything as it comes.
            import_tensorflow_quietly(run_an_op=not collective_ops)
    except Exception as error:  # a wrong build raises ImportError, a version mismatch NotFoundError
        raise MissingDependency(
            f"TensorFlow or tensorflow-text cannot be loaded ({type(error).__name__}: {first_line(error)}): "
            f"the two need matching versions (pip install -r requirements.txt); {PLATFORMS}"
        ) from None


@contextlib.contextmanager
def modules_hidden(names):
    """Within the block, `import NAME` fails as if NAME were not installed (for names not imported yet)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def import_tensorflow_quietly(hidden=(), run_an_op=True):
    """Imports TensorFlow and tensorflow-text and probes devices with standard error
    captured, then passes on every captured line except the native start-up log.

    Args:
        hidden: optional modules Keras should find missing (see SERVING_NEEDS_NOT).
        run_an_op: run one bool transpose while standard error is captured (see
            _import_tensorflow); False before multi-worker training.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        with modules_hidden(hidden):
            _import_tensorflow(run_an_op)  # the user asked to see TensorFlow's log
        return
    try:
        captured = tempfile.TemporaryFile()
    except OSError:  # nowhere to capture to: better noisy than broken
        with modules_hidden(hidden):
            _import_tensorflow(run_an_op)
        return
    # A file, not a pipe: nothing reads a pipe while the import holds the GIL.
    # Should TensorFlow abort the process while loading, its last words are lost.
    sys.stderr.flush()
    saved = os.dup(2)
    with captured:
        os.dup2(captured.fileno(), 2)
        try:
            with modules_hidden(hidden):
                _import_tensorflow(run_an_op)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", errors="replace").splitlines(keepends=True):
                if not NATIVE_STARTUP_LOG.match(line):
                    sys.stderr.write(line)


def _import_tensorflow(run_an_op=True):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  here, so its errors and log are handled as TensorFlow's

    tf.config.list_physical_devices()  # CUDA probing logs here, not at import
    # With oneDNN on an AVX2-only CPU (seqlib.hardware), the first transpose of a bool
    # tensor (Keras's RNN masks do one) logs, once a process, that oneDNN leaves bools to
    # Eigen: have it logged here, where the native log is captured.
    if run_an_op:
        tf.transpose(tf.zeros([1, 2], tf.bool))
