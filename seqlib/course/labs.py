"""What every lab does with its parameters: the preset, the run directory, the time budget.

Lab 3 trains a model into the run directory and labs 4 and 5 read it back. On
Colab each notebook runs on its own machine, so they find lab 3's model only
when the run directory is on Google Drive (USE_DRIVE = True in each of them);
otherwise they train their own, within the preset's time budget, and say so.
"""

from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

import seqlib
from seqlib.config import TrainConfig, get_preset
from seqlib.course.environment import on_colab
from seqlib.decoding.loading import load_translator
from seqlib.errors import LabError
from seqlib.rundir import RunDir
from seqlib.training.train import train

# Training seconds a lab allows each preset when TIME_BUDGET is None; None: all its epochs.
LAB_TIME_BUDGETS = {
    "tiny": None,  # seconds on any machine
    "cpu": 20 * 60,  # a useful translator on a laptop CPU
    "gpu": 10 * 60,  # a useful translator on a Colab T4, and lab 3 still fits in a class
}
# Where Colab mounts Google Drive, and where the labs keep their runs on it.
DRIVE = Path("/content/drive")
DRIVE_RUNS = DRIVE / "MyDrive" / "seqlib" / "runs"


class Lab(NamedTuple):
    """A lab's resolved parameters: `PRESET, config, RUN_DIR, TIME_BUDGET = course.start_lab(...)`."""

    preset: str  # a name in seqlib.config.PRESET_NAMES, never "auto"
    config: TrainConfig
    run_dir: Path  # where lab 3 trains and labs 4 and 5 read
    time_budget: float | None  # training seconds; None: all the preset's epochs


def choose_preset(preset="auto"):
    """Resolves "auto" ("gpu" when TensorFlow sees a GPU, else "cpu") and says what runs where.

    Returns:
        (preset name, TrainConfig).
    """
    gpus = tf.config.list_physical_devices("GPU")
    if preset == "auto":
        preset = "gpu" if gpus else "cpu"
    config = get_preset(preset)
    print(
        f"preset {preset!r} on the {'GPU' if gpus else 'CPU'}: units={config.model.units}, "
        f"vocabularies {config.source_vocab_size}/{config.target_vocab_size}"
    )
    return preset, config


def default_runs_folder(package=None):
    """runs/ beside the checkout seqlib was imported from; ./runs when seqlib is installed.

    An installed seqlib lives in site-packages, no place for a learner's runs;
    on Colab the working directory is /content.
    """
    root = Path(package or seqlib.__file__).resolve().parent.parent
    return root / "runs" if (root / "pyproject.toml").is_file() else Path.cwd().resolve() / "runs"


def time_budget_for(preset, time_budget=None):
    """TIME_BUDGET resolved: None takes the preset's default, 0 means every epoch (returned as None)."""
    if time_budget is None:
        return LAB_TIME_BUDGETS.get(preset)
    if time_budget < 0:
        raise LabError(f"TIME_BUDGET must be seconds of training (0: no limit), got {time_budget:g}")
    return time_budget or None


def mount_drive():
    """Mounts Google Drive at /content/drive (Colab asks the learner to allow it once)."""
    from google.colab import drive  # present on Colab only

    drive.mount(str(DRIVE))


def is_on_drive(path):
    return Path(path).is_relative_to(DRIVE)


def start_lab(preset="auto", run_dir=None, time_budget=None, use_drive=False):
    """A lab's parameters resolved, and said in two lines.

    Args:
        preset: "auto", "tiny", "cpu" or "gpu".
        run_dir: the run directory; None: runs/lab-<preset> beside the checkout,
            ./runs when seqlib is installed, on Google Drive with use_drive.
        time_budget: training seconds; None: LAB_TIME_BUDGETS; 0: no limit.
        use_drive: on Colab, mount Google Drive and keep the run there, where
            the next lab's machine finds it.

    Returns:
        Lab(preset, config, run_dir, time_budget).
    """
    preset, config = choose_preset(preset)
    time_budget = time_budget_for(preset, time_budget)
    drive = use_drive and on_colab()
    if drive:
        mount_drive()
    if run_dir is None:
        run_dir = (DRIVE_RUNS if drive else default_runs_folder()) / f"lab-{preset}"
    run_dir = Path(run_dir)
    if use_drive and not drive:
        where = " (USE_DRIVE applies on Colab only)"
    elif is_on_drive(run_dir):
        where = " (on your Google Drive, where labs 3 to 5 share it)"
    elif on_colab():
        where = " (on this Colab machine only: USE_DRIVE = True keeps it on your Google Drive for the next labs)"
    else:
        where = ""
    print(f"run directory {run_dir}{where}")
    return Lab(preset, config, run_dir, time_budget)


def duration(seconds):
    """'45 s', '100 s', '12 minutes'."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{round(seconds / 60)} minutes"


def training_plan(config, time_budget):
    """How long training will go: the preset's epoch cap and the time budget, in words."""
    epochs = f"{config.epochs} epochs" + (f" of {config.steps_per_epoch} steps" if config.steps_per_epoch else "")
    if time_budget is None:
        return f"all {epochs}, no time limit"
    return f"at most {epochs}, stopping when {duration(time_budget)} have passed, as the learning rate decays towards zero"


def train_lab(config, run_dir, time_budget):
    """seqlib.training.train.train with the plan said first (with a budget, train says after the first epoch when it will stop).

    Returns:
        (keras.Model, keras History or None when the run was already complete).
    """
    print(f"training preset {config.name!r} into {run_dir}: {training_plan(config, time_budget)}", flush=True)
    return train(config, run_dir, time_budget=time_budget, verbose=2)


def no_model_message(run_dir, config, time_budget):
    """The one sentence a lab says when lab 3's model is not in its run directory."""
    plan = f"training one now ({training_plan(config, time_budget)})"
    if is_on_drive(run_dir):
        return f"No model from lab 3 in {run_dir} on your Drive: run lab 3 with USE_DRIVE = True and PRESET = {config.name!r} to share it; {plan}."
    if on_colab():
        return (
            "No model from lab 3 here: each Colab notebook runs on its own machine, so set USE_DRIVE = True "
            f"in lab 3 and here to share it through Google Drive; {plan}."
        )
    return f"No model from lab 3 in {run_dir}: run lab 3 with the same PRESET and RUN_DIR to reuse it; {plan}."


def lab3_translator(config, run_dir, time_budget):
    """The translator lab 3 trained into `run_dir`; when it is not there, one trained now (and said so)."""
    if not RunDir(run_dir).model_file.is_file():
        print(no_model_message(run_dir, config, time_budget), flush=True)
    return trained_translator(config, run_dir, time_budget)


def trained_translator(config, run_dir, time_budget):
    """The translator in `run_dir`, trained there first (for `time_budget`) if it holds no model yet."""
    if not RunDir(run_dir).model_file.is_file():
        train_lab(config, run_dir, time_budget)
    return load_translator(run_dir)
