"""What the labs do with their parameters (seqlib.course.labs), and how the setup cell prepares
the environment (seqlib.course.environment): pure decisions, tested without a GPU, Colab or pip."""

import subprocess
import sys
import types
from pathlib import Path

import pytest
import tensorflow as tf

from seqlib.config import get_preset
from seqlib.course import environment, labs
from seqlib.errors import LabError, SeqlibError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])


@pytest.fixture
def colab(monkeypatch):
    """A stand-in for the google.colab package a Colab kernel has imported; records Drive mounts."""
    drive = types.ModuleType("google.colab.drive")
    drive.mounted = []
    drive.mount = drive.mounted.append
    package = types.ModuleType("google.colab")
    package.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", package)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    return drive


@pytest.mark.parametrize("gpus, expected", [([], "cpu"), (["GPU:0"], "gpu")])
def test_auto_picks_the_gpu_preset_only_when_tensorflow_sees_a_gpu(monkeypatch, capsys, gpus, expected):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus)
    preset, config = labs.choose_preset("auto")
    assert (preset, config) == (expected, get_preset(expected))
    assert capsys.readouterr().out.startswith(f"preset {expected!r} on the {'GPU' if gpus else 'CPU'}: units=")


def test_an_unknown_preset_names_the_known_ones(no_gpu):
    with pytest.raises(SeqlibError, match="choose one of tiny, cpu, gpu"):
        labs.choose_preset("huge")


@pytest.mark.parametrize(
    "preset, time_budget, expected",
    [("tiny", None, None), ("cpu", None, 20 * 60), ("gpu", None, 10 * 60), ("gpu", 0, None), ("cpu", 90, 90)],
)
def test_time_budget_defaults_by_preset_and_zero_means_no_limit(no_gpu, capsys, preset, time_budget, expected):
    assert labs.start_lab(preset, time_budget=time_budget).time_budget == expected


def test_a_negative_time_budget_is_refused_in_one_line():
    with pytest.raises(LabError, match=r"TIME_BUDGET must be seconds of training \(0: no limit\), got -5"):
        labs.time_budget_for("cpu", -5)


def test_from_a_checkout_the_run_lives_in_its_runs_folder(no_gpu, capsys):
    lab = labs.start_lab("tiny")
    assert lab == labs.Lab("tiny", get_preset("tiny"), ROOT / "runs" / "lab-tiny", None)
    assert capsys.readouterr().out.splitlines()[-1] == f"run directory {ROOT / 'runs' / 'lab-tiny'}"
    assert labs.start_lab("tiny", run_dir="elsewhere").run_dir == Path("elsewhere")


def test_an_installed_seqlib_keeps_runs_in_the_working_directory_not_site_packages(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "seqlib" / "__init__.py"
    package.parent.mkdir(parents=True)
    package.touch()
    (tmp_path / "content").mkdir()
    monkeypatch.chdir(tmp_path / "content")
    assert labs.default_runs_folder(package) == tmp_path / "content" / "runs"


def test_use_drive_on_colab_mounts_drive_and_keeps_the_run_there(no_gpu, colab, capsys):
    lab = labs.start_lab("gpu", use_drive=True)
    assert colab.mounted == ["/content/drive"]
    assert lab.run_dir == Path("/content/drive/MyDrive/seqlib/runs/lab-gpu")
    assert "on your Google Drive" in capsys.readouterr().out
    # A RUN_DIR of the learner's own still gets Drive mounted, as it may lie on it.
    assert labs.start_lab("gpu", run_dir="/content/drive/MyDrive/mine", use_drive=True).run_dir == Path(
        "/content/drive/MyDrive/mine"
    )
    assert colab.mounted == ["/content/drive"] * 2


def test_on_colab_without_drive_the_lab_says_the_run_stays_on_this_machine(no_gpu, colab, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(labs, "default_runs_folder", lambda: tmp_path / "runs")
    lab = labs.start_lab("gpu")
    assert colab.mounted == [] and lab.run_dir == tmp_path / "runs" / "lab-gpu"
    assert "this Colab machine only: USE_DRIVE = True keeps it on your Google Drive" in capsys.readouterr().out


def test_use_drive_outside_colab_changes_nothing_and_says_so(no_gpu, capsys):
    assert labs.start_lab("tiny", use_drive=True).run_dir == ROOT / "runs" / "lab-tiny"
    assert "(USE_DRIVE applies on Colab only)" in capsys.readouterr().out


def test_the_training_plan_names_the_epoch_cap_and_the_budget():
    assert labs.training_plan(get_preset("tiny"), None) == "all 3 epochs, no time limit"
    assert labs.training_plan(get_preset("cpu"), 1200) == (
        "at most 40 epochs of 300 steps, stopping when 20 minutes have passed, as the learning rate decays towards zero"
    )
    assert labs.training_plan(get_preset("gpu"), 45) == (
        "at most 30 epochs of 300 steps, stopping when 45 s have passed, as the learning rate decays towards zero"
    )


def test_labs_4_and_5_say_in_one_sentence_why_they_train_a_model_and_for_how_long(colab):
    gpu = get_preset("gpu")
    message = labs.no_model_message(Path("/content/runs/lab-gpu"), gpu, 600)
    assert message == (
        "No model from lab 3 here: each Colab notebook runs on its own machine, so set USE_DRIVE = True in lab 3 "
        "and here to share it through Google Drive; training one now "
        "(at most 30 epochs of 300 steps, stopping when 10 minutes have passed, as the learning rate decays towards zero)."
    )
    on_drive = labs.no_model_message(Path("/content/drive/MyDrive/seqlib/runs/lab-gpu"), gpu, 600)
    assert on_drive.startswith("No model from lab 3 in /content/drive/MyDrive/seqlib/runs/lab-gpu on your Drive: run lab 3 with")
    assert "USE_DRIVE = True and PRESET = 'gpu'" in on_drive


def test_outside_colab_the_missing_model_message_points_at_lab_3(tmp_path):
    message = labs.no_model_message(tmp_path, get_preset("tiny"), None)
    assert message == (
        f"No model from lab 3 in {tmp_path}: run lab 3 with the same PRESET and RUN_DIR to reuse it; "
        "training one now (all 3 epochs, no time limit)."
    )


@pytest.fixture
def versions(monkeypatch):
    """The environment's installed distributions, as a dict the test fills in."""
    installed = {}
    monkeypatch.setattr(environment, "installed_version", installed.get)
    return installed


COLAB_STACK = {
    "tensorflow": "2.19.0",
    "keras": "3.10.0",
    "numpy": "2.0.2",
    "pandas": "2.2.2",
    "tensorboard": "2.19.0",
    "h5py": "3.14.0",
    "matplotlib": "3.10.0",
}


def test_colab_needs_tensorflow_text_of_its_tensorflow_and_sacrebleu(versions):
    versions.update(COLAB_STACK)
    assert environment.missing_requirements() == ["tensorflow-text==2.19.*", "sacrebleu"]
    versions.update({"tensorflow-text": "2.18.1", "sacrebleu": "2.6.0"})  # built for another TensorFlow
    assert environment.missing_requirements() == ["tensorflow-text==2.19.*"]
    versions["tensorflow-text"] = "2.19.0"
    assert environment.missing_requirements() == []


def test_pip_gets_constraints_that_pin_every_preinstalled_package(versions, monkeypatch, capsys):
    versions.update(COLAB_STACK)
    calls = []

    def fake_run(command, **kwargs):
        constraints = Path(command[command.index("-c") + 1]).read_text()
        calls.append((command, constraints))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(environment.subprocess, "run", fake_run)
    environment.install_missing()
    [(command, constraints)] = calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[-2:] == ["tensorflow-text==2.19.*", "sacrebleu"]
    assert not {"-U", "--upgrade", "--force-reinstall"} & set(command)
    assert constraints.splitlines() == [f"{name}=={version}" for name, version in COLAB_STACK.items()]
    assert "installing tensorflow-text==2.19.* and sacrebleu beside Colab's tensorflow 2.19.0" in capsys.readouterr().out


def test_a_failed_pip_install_is_one_line_with_pips_reason(versions, monkeypatch):
    versions.update(COLAB_STACK)
    stderr = (
        "ERROR: Could not find a version that satisfies the requirement tensorflow-text==2.19.*\nERROR: No matching distribution"
    )
    monkeypatch.setattr(
        environment.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", stderr)
    )
    with pytest.raises(LabError) as raised:
        environment.install_missing()
    assert str(raised.value) == (
        "pip could not install tensorflow-text==2.19.* and sacrebleu beside TensorFlow 2.19.0: "
        "ERROR: Could not find a version that satisfies the requirement tensorflow-text==2.19.*"
    )
    assert raised.value._render_traceback_() == [f"LabError: {raised.value}"]


def test_outside_colab_nothing_is_installed(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(environment, "pip_install", lambda *args: pytest.fail("pip ran outside Colab"))
    environment.prepare()  # tensorflow-text imports in the test environment


@pytest.mark.parametrize(
    "system, machine, advice",
    [
        ("Windows", "AMD64", "run the labs on Colab, on Linux x86-64 or macOS arm64, or on Windows through WSL2"),
        ("Linux", "aarch64", "run the labs on Colab, on Linux x86-64 or macOS arm64, or on Windows through WSL2"),
        ("Linux", "x86_64", "pip install 'tensorflow-text=="),
    ],
)
def test_without_tensorflow_text_the_setup_says_what_to_do_in_one_line(monkeypatch, system, machine, advice):
    monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # makes the import fail
    monkeypatch.setattr(environment.platform, "system", lambda: system)
    monkeypatch.setattr(environment.platform, "machine", lambda: machine)
    with pytest.raises(LabError) as raised:
        environment.require_text_ops()
    assert advice in str(raised.value) and "\n" not in str(raised.value)
