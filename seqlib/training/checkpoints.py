"""Epoch checkpoints: saving the model and its optimizer state after every epoch,
loading them to resume, and checking before training that the disk holds them."""

import shutil

import keras

from seqlib.errors import RunDirError, SeqlibError, first_line
from seqlib.files import replaced_atomically


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state and the model after every epoch.

    Each file is written under a temporary name and renamed, so a kill at any
    moment leaves the previous complete checkpoint in place.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        self.run.checkpoints.mkdir(exist_ok=True)
        final = self.run.checkpoint_path(completed)
        # The model first: a kill between the two renames leaves a model one epoch
        # ahead of the checkpoint, and resuming redoes that epoch; the other order
        # would leave a finished run whose model.keras is an epoch behind.
        with replaced_atomically(self.run.model_file) as temporary:
            self.model.save(temporary)
        with replaced_atomically(final) as temporary:
            self.model.save_weights(temporary)
        for older in self.run.checkpoints.glob("epoch-*.weights.h5"):
            if older != final:
                older.unlink(missing_ok=True)


def load_checkpoint(model, checkpoint):
    """Loads weights and optimizer state, turning a damaged or foreign file into a clear error."""
    try:
        model.load_weights(checkpoint)
    except Exception as error:  # h5py and Keras raise many types for truncated or mismatched files
        raise RunDirError(
            f"{checkpoint}: cannot resume from this checkpoint ({type(error).__name__}: {first_line(error)}); "
            "delete it to train this run from the start, or train into a new --out"
        ) from None


def checkpoint_bytes(model):
    """An upper estimate of the disk space one epoch's saving needs, in bytes.

    The checkpoint and model.keras each hold the float32 weights and Adam's two
    slots per weight (3 x 4 bytes a parameter); the new files are written beside
    the old ones before these are replaced. 16 MiB more cover logs and small files.
    """
    return 2 * model.count_params() * 4 * 3 + 16 * 2**20


def check_free_space(run, model):
    """Refuses to start a training whose first checkpoint would not fit on the disk."""
    needed = checkpoint_bytes(model)
    free = shutil.disk_usage(run.path).free
    if free < needed:
        raise SeqlibError(
            f"{run.path}: only {free / 2**20:.0f} MiB free, and saving an epoch's checkpoint and model needs "
            f"about {needed / 2**20:.0f} MiB; free some space or choose another --out"
        )
