"""Exposure bias: a decoder trained on true prefixes, then run on its own.

Teacher forcing trains the decoder to predict each target token from the
reference's previous tokens; serving feeds it its own previous choices, which
it never saw in training. `loss_by_position` measures the gap: the loss of
each reference token given the reference prefix, and given the prefix the
model chose itself (greedily).
"""

import warnings

import pandas as pd
import tensorflow as tf

from seqlib.conventions import PAD_ID
from seqlib.data.pipeline import shift_for_teacher_forcing
from seqlib.data.text import add_start_end, standardize


def loss_by_position(translator, english, french):
    """The reference's cross-entropy at each target position, two ways.

    Both decoders start from the same encoding; one reads the reference's
    previous token (teacher forcing, as in training), the other its own greedy
    choice (as in serving). Both are scored against the same reference token.

    Args:
        translator: a seqlib Translator (GRU or transformer).
        english, french: lists of str, aligned pairs.

    Returns:
        DataFrame indexed by position (1: the first target token), with the mean
        cross-entropy in nats over the sentences that reach it (`teacher_forcing`,
        `own_predictions`) and how many do (`sentences`).
    """
    if len(english) != len(french) or not english:
        raise ValueError(f"need aligned, non-empty pairs: got {len(english)} English and {len(french)} French sentences")
    target = translator.target_vectorizer(add_start_end(standardize(tf.constant(list(french)))))
    target_in, target_out = shift_for_teacher_forcing(tf.cast(target.to_tensor(), tf.int32))
    context = translator.vectorize(tf.constant(list(english)))
    length = int(target_in.shape[1])
    forced_state = translator.encode(context, max_length=length)
    own_state = translator.encode(context, max_length=length)
    own_tokens = target_in[:, 0]  # [START] for every sentence
    rows = []
    # Keras notes that the encoder's outputs carry the source's padding mask into the
    # step model, which does not use it (attention masks the padding from `context`).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Layer '.*' \(of type Functional\) was passed an input with a mask")
        for position in range(length):
            # The model's own probabilities (every token allowed, none forbidden), so that
            # a reference [UNK] is scored as in training.
            forced_logits, forced_state = translator.step(target_in[:, position], forced_state, forbid=False)
            own_logits, own_state = translator.step(own_tokens, own_state, forbid=False)
            # What a greedy search feeds back next: never padding, [UNK] or [START].
            own_tokens = tf.argmax(translator.forbid(own_logits), axis=-1, output_type=tf.int32)
            expected = target_out[:, position]
            real = expected != PAD_ID
            rows.append(
                {
                    "position": position + 1,
                    "teacher_forcing": _mean_cross_entropy(expected, forced_logits, real),
                    "own_predictions": _mean_cross_entropy(expected, own_logits, real),
                    "sentences": int(tf.reduce_sum(tf.cast(real, tf.int32))),
                }
            )
    return pd.DataFrame(rows).set_index("position")


def _mean_cross_entropy(labels, logits, real):
    """labels int32 (rows,), logits float32 (rows, vocab), real bool (rows,) -> float."""
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return float(tf.reduce_sum(tf.where(real, losses, 0.0)) / tf.maximum(tf.reduce_sum(tf.cast(real, tf.float32)), 1.0))
