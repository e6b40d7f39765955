"""What the labs need from the Python environment, and how Colab gets it.

The labs' setup cell (labs/setup_cell.py) makes seqlib importable, then calls
`prepare()`. On Colab it installs the two packages Colab lacks, tensorflow-text
and sacreBLEU, beside Colab's own TensorFlow, Keras, numpy and pandas, which it
pins: a changed TensorFlow would only load after a runtime restart, which "Run
all" does not do. Everywhere, it checks that tensorflow-text imports, and says
in one line where it cannot.

Nothing here imports TensorFlow before the packages are in place.
"""

import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile

from seqlib.errors import LabError

# Colab preinstalls these; installing the course must leave each at its version.
PRESERVED = ("tensorflow", "keras", "numpy", "pandas", "tensorboard", "h5py", "matplotlib")
# tensorflow-text ships wheels for these (system, machine) pairs only.
TEXT_PLATFORMS = {("Linux", "x86_64"), ("Darwin", "arm64")}


def on_colab():
    """True inside a Colab kernel, which has imported google.colab before any cell runs."""
    return "google.colab" in sys.modules


def installed_version(name):
    """The installed version of distribution `name`, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def minor_version(version):
    """'2.19.0' -> '2.19': tensorflow-text and TensorFlow must agree on it."""
    return ".".join(version.split(".")[:2])


def missing_requirements():
    """pip requirements for what the course needs and this environment lacks.

    tensorflow-text is pinned to the installed TensorFlow's major.minor: each
    release is built against one TensorFlow minor version and fails to load with
    another one.
    """
    tensorflow = installed_version("tensorflow")
    if tensorflow is None:
        raise LabError("TensorFlow is not installed here; the labs expect a runtime that has it, such as Colab's")
    wanted = []
    text = installed_version("tensorflow-text")
    if text is None or minor_version(text) != minor_version(tensorflow):
        wanted.append(f"tensorflow-text=={minor_version(tensorflow)}.*")
    if installed_version("sacrebleu") is None:
        wanted.append("sacrebleu")
    return wanted


def constraints_text():
    """A pip constraints file holding every PRESERVED package at its installed version."""
    return "".join(f"{name}=={version}\n" for name in PRESERVED if (version := installed_version(name)))


def pip_install(requirements, constraints):
    """Runs pip in this interpreter's environment, as %pip would; returns its CompletedProcess."""
    with tempfile.NamedTemporaryFile("w", suffix="-constraints.txt", delete=False) as file:
        file.write(constraints)
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-input",
                "--no-color",
                "--disable-pip-version-check",
                "-c",
                file.name,
            ]
            + list(requirements),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.unlink(file.name)


def pip_reason(stderr):
    """The line of pip's error output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("ERROR:", "fatal:")):
            return line
    return lines[-1] if lines else "pip failed without a message"


def install_missing():
    """On Colab: installs what missing_requirements() names, never changing a PRESERVED package."""
    wanted = missing_requirements()
    if not wanted:
        return
    kept = ", ".join(f"{name} {installed_version(name)}" for name in ("tensorflow", "keras", "numpy", "pandas"))
    print(f"installing {' and '.join(wanted)} beside Colab's {kept}, which stay as they are")
    done = pip_install(wanted, constraints_text())
    if done.returncode != 0:
        raise LabError(
            f"pip could not install {' and '.join(wanted)} beside TensorFlow {installed_version('tensorflow')}: {pip_reason(done.stderr)}"
        )
    importlib.invalidate_caches()  # packages installed while Python runs are found only after this


def require_text_ops():
    """Imports tensorflow-text, or says in one line why it cannot be imported here and what to do."""
    try:
        import tensorflow_text  # noqa: F401  the import is the test
    except ImportError as error:
        system, machine = platform.system(), platform.machine()
        if (system, machine) not in TEXT_PLATFORMS:
            raise LabError(
                f"tensorflow-text, which seqlib's text ops need, has no package for {system} {machine}: "
                "run the labs on Colab, on Linux x86-64 or macOS arm64, or on Windows through WSL2"
            ) from None
        tensorflow = installed_version("tensorflow") or "?"
        raise LabError(
            f"tensorflow-text does not import ({error}): install the release that matches TensorFlow {tensorflow}, "
            f"pip install 'tensorflow-text=={minor_version(tensorflow)}.*'"
        ) from None


def prepare():
    """The setup cell's second half, once seqlib imports: on Colab install what is missing, then check the text ops."""
    if on_colab():
        install_missing()
    require_text_ops()
