"""What every lab does with its parameters: the preset, the run directory, the time budget.

Lab 3 trains a model into the run directory and labs 4 and 5 read it back. On
Colab each notebook runs on its own machine, so they find lab 3's model only
when the run directory is on Google Drive (USE_DRIVE = True in each of them);
otherwise they train their own, within the preset's time budget, and say so.
"""

import math
import time
from pathlib import Path
from typing import NamedTuple

import keras
import tensorflow as tf

import seqlib
from seqlib.config import TrainConfig, get_preset
from seqlib.environment import on_colab
from seqlib.errors import LabError
from seqlib.rundir import RunDir, load_translator
from seqlib.train import train

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

    preset: str  # a name in seqlib.config.PRESETS, never "auto"
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
        f"preset {preset!r} on the {'GPU' if gpus else 'CPU'}: units={config.units}, "
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
    return f"at most {epochs}, stopping after the first epoch that ends past {duration(time_budget)}"


class EpochForecast(keras.callbacks.Callback):
    """Says, once the first epoch is done, how many epochs the time budget leaves room for.

    The first batch traces the training step, which can take longer than an epoch of
    the tiny preset, so the pace is measured from its end on. The forecast is printed
    when the second epoch begins, after Keras's line for the first one.
    """

    def __init__(self, time_budget=None):
        super().__init__()
        self.time_budget = time_budget

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()
        self.traced = None  # when the first batch ended
        self.batches = 0  # batches of the first epoch
        self.first_epoch = None  # (epoch number, seconds since the start, seconds an epoch) once it ends

    def on_train_batch_end(self, batch, logs=None):
        if self.first_epoch is None:
            self.batches += 1
            self.traced = self.traced or time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self.first_epoch is None:
            now = time.monotonic()
            elapsed = now - self.started
            # The first epoch's pace without its first batch, scaled back to a whole epoch.
            pace = (now - self.traced) * self.batches / (self.batches - 1) if self.batches > 1 else elapsed
            self.first_epoch = (epoch + 1, elapsed, min(pace, elapsed))

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is not None and self.first_epoch[0] == epoch:
            print(self.forecast(*self.first_epoch, self.params["epochs"]), flush=True)

    def forecast(self, number, elapsed, pace, epochs):
        """The sentence once epoch `number` (1-based) ended `elapsed` seconds into training, at `pace` seconds an epoch."""
        if self.time_budget is None:
            left = epochs - number
            return f"epoch {number} done after {duration(elapsed)}: the {left} left take about {duration(left * pace)} more"
        # TimeBudget stops after the first epoch that ends past the budget.
        last = min(epochs, number + math.ceil(max(self.time_budget - elapsed, 0) / pace))
        return (
            f"epoch {number} done after {duration(elapsed)}: at about {duration(pace)} an epoch, TIME_BUDGET "
            f"({duration(self.time_budget)}) ends training after epoch {last} of at most {epochs}, "
            f"about {duration(elapsed + (last - number) * pace)} after it started"
        )


def train_lab(config, run_dir, time_budget):
    """seqlib.train.train with what a lab adds: the plan said first, the forecast after an epoch.

    Returns:
        (keras.Model, keras History or None when the run was already complete).
    """
    print(f"training preset {config.name!r} into {run_dir}: {training_plan(config, time_budget)}", flush=True)
    return train(config, run_dir, time_budget=time_budget, verbose=2, extra_callbacks=[EpochForecast(time_budget)])


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
        train_lab(config, run_dir, time_budget)
    return load_translator(run_dir)
