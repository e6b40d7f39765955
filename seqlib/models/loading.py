"""Loading a run's trained model (RUN_DIR/model.keras) with every family's layers known."""

import keras

from seqlib.errors import RunDirError, first_line
from seqlib.models.registry import register_custom_objects
from seqlib.rundir import RunDir


def load_training_model(path):
    """Loads RUN_DIR/model.keras with safe_mode=True (no Lambda, no pickle).

    Returns:
        (RunDir, TrainConfig, keras.Model): the model's inputs context (batch, s) and
        target_in (batch, t), its output logits (batch, t, target_vocab).
    """
    register_custom_objects()
    run = RunDir(path)
    config = run.check_trained()
    try:
        model = keras.models.load_model(run.model_file, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for damaged or mismatched files
        raise RunDirError(f"{run.model_file}: cannot load the model ({type(error).__name__}: {first_line(error)})") from None
    return run, config, model
