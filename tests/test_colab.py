"""The labs' setup cell on a simulated Colab: a kernel that has imported a stand-in
google.colab, started in an empty working directory as Colab's /content is.

The full test installs into the running Python environment, so it runs only where
SEQLIB_SIMULATED_COLAB=1 says that environment is a throwaway venv of Colab's stack
(see the skip reason). The cheap test runs everywhere: it installs nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from seqlib.course.environment import PRESERVED  # what Colab preinstalls and the setup cell must leave alone

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "labs" / "solutions" / "01_data_and_teacher_forcing.ipynb"
SIMULATED = os.environ.get("SEQLIB_SIMULATED_COLAB") == "1"
# A Colab kernel imports google.colab before any cell runs; this stands in for it.
FAKE_COLAB = """\
import sys
import types

drive = types.ModuleType("google.colab.drive")
drive.mounted = []
drive.mount = drive.mounted.append
colab = types.ModuleType("google.colab")
colab.drive = drive
sys.modules["google.colab"] = colab
sys.modules["google.colab.drive"] = drive
"""


def tags(cell):
    return set(cell.metadata.get("tags", []))


def lab_cells(*wanted):
    """Lab 1's cells with any of the `wanted` tags, in order (the setup cell is the same in every lab)."""
    return [cell for cell in nbformat.read(LAB, as_version=4).cells if tags(cell) & set(wanted)]


def execute(cells, cwd, tmp_path, monkeypatch, allow_errors=False):
    """Runs cells in a fresh kernel of this very Python, started in `cwd`; returns the notebook."""
    # A kernel spec of our own: "python3" could name another interpreter than this venv's.
    spec = tmp_path / "jupyter" / "kernels" / "this-python"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "this Python", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(
        notebook, timeout=600, kernel_name="this-python", allow_errors=allow_errors, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def errors_of(cell):
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def stdout_of(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def test_where_the_course_cannot_be_fetched_the_setup_cell_says_what_to_set(tmp_path, monkeypatch):
    (setup,) = lab_cells("setup")[:1]
    not_a_checkout = tmp_path / "not-a-checkout"
    not_a_checkout.mkdir()
    content = tmp_path / "content"
    content.mkdir()
    no_repository = f"git+file://{tmp_path / 'no-repository'}"
    monkeypatch.setenv("SEQLIB_SOURCE", str(not_a_checkout))
    cells = [
        # As on a fresh runtime, seqlib is nowhere to import (even where this Python has it).
        nbformat.v4.new_code_cell("import sys\nsys.modules['seqlib'] = None"),
        nbformat.v4.new_code_cell(setup.source),  # outside Colab: nothing to install from
        nbformat.v4.new_code_cell(FAKE_COLAB),
        nbformat.v4.new_code_cell(setup.source),  # on Colab: pip finds no project in the folder
        nbformat.v4.new_code_cell(f"os.environ['SEQLIB_SOURCE'] = {no_repository!r}"),
        nbformat.v4.new_code_cell(setup.source),  # on Colab: git finds no repository there
    ]
    notebook = execute(cells, content, tmp_path, monkeypatch, allow_errors=True)

    [local] = errors_of(notebook.cells[1])
    assert local.traceback == [
        f"SetupError: seqlib is not importable: open this notebook from labs/ in a checkout, or pip install {not_a_checkout}"
    ]
    for index, source, reason in ((3, not_a_checkout, "ERROR: "), (5, no_repository, "fatal: ")):
        [colab] = errors_of(notebook.cells[index])
        assert len(colab.traceback) == 1 and "\n" not in colab.traceback[0], colab.traceback
        message = colab.traceback[0]
        assert message.startswith(f"SetupError: cannot install the course from {source} ({reason}"), message
        assert message.endswith(
            "set SEQLIB_SOURCE to its git URL (git+https://github.com/ACCOUNT/seqlib) or a local checkout, "
            "e.g. os.environ['SEQLIB_SOURCE'] = '…' in a cell above"
        )


def installed_versions():
    """{distribution name: version} of this Python's environment, read afresh in a new process."""
    script = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    # Not from the checkout, where a build may have left seqlib.egg-info.
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(sys.prefix))
    return json.loads(done.stdout)


@pytest.mark.skipif(
    not SIMULATED,
    reason=(
        "installs seqlib, tensorflow-text and sacrebleu into this Python environment: run it in a throwaway venv "
        "that holds Colab's preinstalled stack (requirements-colab-preinstalled.txt) plus pytest, nbclient and ipykernel, "
        "with SEQLIB_SIMULATED_COLAB=1 python -m pytest tests/test_colab.py"
    ),
)
def test_on_colab_the_setup_cell_installs_the_course_and_changes_none_of_colabs_packages(tmp_path, monkeypatch):
    before = installed_versions()
    missing = [name for name in PRESERVED if name not in before]
    assert not missing, f"this venv lacks Colab's {missing}: pip install -r requirements-colab-preinstalled.txt"
    assert "seqlib" not in before, "seqlib is installed here already: pip uninstall -y seqlib, or use a fresh venv"

    ipython = tmp_path / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (ipython / "profile_default" / "startup" / "00-google-colab.py").write_text(FAKE_COLAB)
    monkeypatch.setenv("IPYTHONDIR", str(ipython))
    # A copy of the checkout: pip builds in the source folder, and the checkout stays clean.
    source = shutil.copytree(
        ROOT, tmp_path / "seqlib", ignore=shutil.ignore_patterns(".git", "runs", "build", "*.egg-info", "__pycache__")
    )
    monkeypatch.setenv("SEQLIB_SOURCE", str(source))
    content = tmp_path / "content"  # not inside the checkout, so seqlib can only come from the install
    content.mkdir()
    probe = nbformat.v4.new_code_cell(
        "import json\n"
        "from google.colab import drive\n"
        "import seqlib.files\n"
        "print(json.dumps({'seqlib': seqlib.__file__, 'corpus': str(seqlib.files.BUNDLED_CORPUS),\n"
        "                  'corpus_exists': seqlib.files.BUNDLED_CORPUS.is_file(), 'colab': 'google.colab' in sys.modules}))\n"
        "print(json.dumps(str(labs.start_lab('tiny', use_drive=True).run_dir)), json.dumps(drive.mounted))\n"
        "print(json.dumps(str(labs.start_lab('tiny').run_dir)))"
    )
    # Lab 1's parameters, its setup cells (installing, then importing seqlib's text ops), the probe,
    # and the setup cell once more, as a learner running all cells again.
    parameters, setup, imports = lab_cells("parameters", "setup")
    again = nbformat.v4.new_code_cell(setup.source)
    notebook = execute([parameters, setup, imports, probe, again], content, tmp_path, monkeypatch)
    after = installed_versions()

    changed = {name: (version, after.get(name)) for name, version in before.items() if after.get(name) != version}
    assert not changed, f"the setup cell changed packages Colab had installed: {changed}"
    tensorflow_minor = before["tensorflow"].split(".")[:2]
    assert after.get("tensorflow-text", "").split(".")[:2] == tensorflow_minor, after.get("tensorflow-text")
    assert "seqlib" in after and "sacrebleu" in after

    lines = stdout_of(notebook.cells[3]).splitlines()
    found, run_dir = json.loads(lines[0]), Path(json.loads(lines[-1]))
    assert found["colab"]
    assert Path(found["seqlib"]).resolve().is_relative_to(Path(sys.prefix).resolve()), (
        f"not the installed seqlib: {found['seqlib']}"
    )
    assert found["corpus_exists"] and Path(found["corpus"]).parent == Path(found["seqlib"]).parent / "corpus", found
    assert run_dir == content.resolve() / "runs" / "lab-tiny", "an installed seqlib keeps runs in the working directory"
    drive_line = next(line for line in lines if line.startswith('"/content/drive'))
    assert drive_line == '"/content/drive/MyDrive/seqlib/runs/lab-tiny" ["/content/drive"]', (
        "USE_DRIVE mounts Drive and runs there"
    )
    assert "installing the course from" in stdout_of(notebook.cells[1])
    assert "installing tensorflow-text==" in stdout_of(notebook.cells[1])
    assert stdout_of(notebook.cells[4]) == "", "the second run of the setup cell installed something again"
