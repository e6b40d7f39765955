# Setup, the same in every lab: labs/build.py copies it here from labs/setup_cell.py.
# From a checkout it imports the repository's seqlib and installs nothing. On Colab it installs the
# course and what Colab lacks (tensorflow-text, sacreBLEU), and never changes Colab's TensorFlow,
# Keras, numpy or pandas: a changed TensorFlow would load only after a restart, which "Run all" skips.
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up log lines say nothing useful here
# Keras warns about things seqlib does on purpose (a mask reaching the decoder's GRU cell,
# a tf.data input it cannot shuffle again); the course's own messages are the ones to read.
warnings.filterwarnings("ignore", category=UserWarning, module="keras")
# Where Colab gets the course: a pip git URL or a local checkout. The default is REPOSITORY in labs/build.py.
SEQLIB_SOURCE = os.environ.get("SEQLIB_SOURCE", "git+https://github.com/OWNER/seqlib")


class SetupError(Exception):
    def _render_traceback_(self):  # IPython shows this line instead of a traceback
        return [f"SetupError: {self}"]


checkout = next((place for place in (Path.cwd(), *Path.cwd().parents) if (place / "seqlib" / "__init__.py").is_file()), None)
if checkout is not None:  # started from labs/ or labs/solutions/ of a checkout
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
elif importlib.util.find_spec("seqlib") is None:
    if "google.colab" not in sys.modules:
        raise SetupError(f"seqlib is not importable: open this notebook from labs/ in a checkout, or pip install {SEQLIB_SOURCE}")
    print(f"installing the course from {SEQLIB_SOURCE}")
    # --no-deps: seqlib's own dependency ranges never get to move Colab's packages; seqlib.course.environment
    # adds the missing ones below, pinned to what Colab has.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--no-color", "--no-deps", SEQLIB_SOURCE],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # a wrong URL fails instead of asking for a password
    )
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines()]
        reason = next((line for line in lines if line.startswith(("ERROR:", "fatal:"))), "pip failed")  # pip's, or git's
        raise SetupError(
            f"cannot install the course from {SEQLIB_SOURCE} ({reason}): set SEQLIB_SOURCE to its git URL "
            "(git+https://github.com/ACCOUNT/seqlib) or a local checkout, e.g. os.environ['SEQLIB_SOURCE'] = '…' in a cell above"
        )
    importlib.invalidate_caches()  # a package installed while Python runs is found only after this

from seqlib.course import environment  # noqa: E402  importable only now

environment.prepare()
