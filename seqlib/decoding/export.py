"""Exporting a run as a standalone SavedModel (TensorFlow + tensorflow-text, no seqlib).

Signatures:
    translate / serving_default: text string (batch,) -> translation string (batch,), greedy.
    translate_beam: text string (batch,), beam_width int32 scalar, n_best int32 scalar
        -> translations string (batch, n_best), scores float32 (batch, n_best).
The module's other functions (greedy, beam, sample) are saved too and callable
after `tf.saved_model.load`.
"""

from pathlib import Path

import tensorflow as tf

from seqlib.decoding.loading import load_translator
from seqlib.files import check_new_directory


def export(run_dir, out):
    """Writes the SavedModel of run_dir's translator to `out` and returns its path."""
    check_new_directory(out)
    translator = load_translator(run_dir)
    signatures = {
        "serving_default": translator.translate.get_concrete_function(),
        "translate": translator.translate.get_concrete_function(),
        "translate_beam": translator.translate_beam.get_concrete_function(),
    }
    tf.saved_model.save(translator, str(out), signatures=signatures)
    return Path(out)
