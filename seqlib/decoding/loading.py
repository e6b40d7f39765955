"""A run's trained model, and a Translator from a run directory alone or from a model still training."""

import keras

from seqlib.conventions import automatic_max_length
from seqlib.data.vocabulary import load_vocabulary
from seqlib.decoding.translator import Translator
from seqlib.errors import RunDirError, first_line
from seqlib.models.registry import build_decoder, build_training_model, layer_sizes, register_custom_objects
from seqlib.precision import FLOAT32, computes_in_float32, computing_in
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


def load_translator(path, max_output_tokens=None, jit_compile=False, bfloat16_projection=False):
    """Builds a Translator from a run directory alone (jit_compile, bfloat16_projection: see Translator)."""
    run, config, model = load_training_model(path)
    source_vocabulary = load_vocabulary(run.source_vocab)
    target_vocabulary = load_vocabulary(run.target_vocab)
    check_model_matches_run(run, config, model, source_vocabulary, target_vocabulary)
    model = computing_in_float32(model, config)
    return build_translator(
        model, config, source_vocabulary, target_vocabulary, max_output_tokens, jit_compile, bfloat16_projection
    )


def computing_in_float32(model, config):
    """`model` where it computes in float32, else a float32 copy of it with the same weights.

    A run trained in mixed precision saves each layer's policy with it. Its translator
    computes in float32 instead, on any machine: the weights are float32 already, a CPU
    without bfloat16 or float16 would emulate them slowly, and `translate`, `evaluate`
    and `export` then give the same words wherever the run was trained.
    """
    if computes_in_float32(model):
        return model
    source_ids, target_ids, _ = layer_sizes(model, config)
    with computing_in(FLOAT32):
        copy = build_training_model(config, source_ids, target_ids)
    copy.set_weights(model.get_weights())
    return copy


def check_model_matches_run(run, config, model, source_vocabulary, target_vocabulary):
    """Refuses a model whose family, width or vocabularies differ from what the run says."""
    try:
        *found, units = layer_sizes(model, config)
    except ValueError as error:  # a layer the family needs is missing
        raise RunDirError(
            f"{run.path}: the model is not a {config.arch} model as config.json says ({first_line(error)}); "
            "the run is damaged, retrain it"
        ) from None
    if units != config.model.units:
        raise RunDirError(
            f"{run.config_file}: says units={config.model.units} but the model has {units}; the run is damaged, retrain it"
        )
    expected = [len(source_vocabulary) + 2, len(target_vocabulary) + 2]
    if expected != found:
        raise RunDirError(
            f"{run.path}: the vocabularies ({expected[0]} source, {expected[1]} target ids) do not match "
            f"the model ({found[0]}, {found[1]}); the run is damaged, retrain it"
        )


def build_translator(
    model, config, source_vocabulary, target_vocabulary, max_output_tokens=None, jit_compile=False, bfloat16_projection=False
):
    """A Translator sharing the training model's layers (so it follows training)."""
    max_output_tokens = max_output_tokens or automatic_max_length(config.max_tokens)
    return Translator(
        build_decoder(model, config, max_output_tokens),
        source_vocabulary,
        target_vocabulary,
        max_source_tokens=config.max_tokens,
        max_output_tokens=max_output_tokens,
        jit_compile=jit_compile,
        bfloat16_projection=bfloat16_projection,
        tokenizer=config.tokenizer,
    )
