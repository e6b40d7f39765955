"""The tf.data pipeline: vectorized pairs in, teacher-forcing batches out.

Teacher forcing lives here and only here: the decoder reads the target shifted by
one (`target_in = target[:, :-1]`) and learns to predict the next token
(`target_out = target[:, 1:]`), so at every position it sees the true previous
token rather than its own guess.
"""

import tensorflow as tf

from seqlib.data.text import add_start_end, standardize

# Lengths (in tokens) at which a new bucket starts; sentences here are short.
BUCKET_BOUNDARIES = (5, 7, 9, 11, 13, 16, 20, 25, 32)


def vectorize_pairs(english, french, source_vectorizer, target_vectorizer):
    """Turns sentences into id sequences; targets get [START] and [END].

    Args:
        english, french: lists of str of equal length.

    Returns:
        (source, target): int32 RaggedTensors (n, None).
    """
    source = source_vectorizer(standardize(tf.constant(list(english))))
    target = target_vectorizer(add_start_end(standardize(tf.constant(list(french)))))
    return tf.cast(source, tf.int32), tf.cast(target, tf.int32)


def keep_shorter_than(source, target, max_tokens):
    """Drops pairs whose source has more than max_tokens tokens or whose target has
    more than max_tokens tokens plus [START] and [END]."""
    keep = (source.row_lengths() <= max_tokens) & (target.row_lengths() <= max_tokens + 2)
    return tf.ragged.boolean_mask(source, keep), tf.ragged.boolean_mask(target, keep)


def shift_for_teacher_forcing(target):
    """Splits [START] w1 … wn [END] into decoder input and expected output.

    Args:
        target: int Tensor (batch, t + 1), padded with 0.

    Returns:
        (target_in, target_out): int Tensors (batch, t); target_out[:, i] is the
        token that follows target_in[:, i].
    """
    return target[:, :-1], target[:, 1:]


def make_dataset(source, target, batch_size, shuffle_seed=None, bucketing=True, repeat=False, drop_remainder=False):
    """Batches vectorized pairs for `model.fit`.

    Args:
        source, target: int32 RaggedTensors (n, None) from `vectorize_pairs`.
        batch_size: pairs a batch.
        shuffle_seed: shuffle every epoch with this seed; None keeps the order.
        bucketing: batch sentences of similar length together so padding stays
            small; False pads every batch to its longest sentence (for benchmarks).
        repeat: repeat forever (for `steps_per_epoch`).
        drop_remainder: drop each bucket's last, smaller batch; distributed
            training needs batches that split evenly across replicas.

    Returns:
        tf.data.Dataset of ((context (batch, s), target_in (batch, t)), target_out (batch, t)).
    """
    # Dense rows plus lengths slice much faster than ragged rows in tf.data.
    dataset = tf.data.Dataset.from_tensor_slices(
        (source.to_tensor(), source.row_lengths(), target.to_tensor(), target.row_lengths())
    ).map(lambda s, s_length, t, t_length: (s[:s_length], t[:t_length]))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(int(source.nrows()), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if bucketing:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda s, t: tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
            bucket_boundaries=list(BUCKET_BOUNDARIES),
            bucket_batch_sizes=[batch_size] * (len(BUCKET_BOUNDARIES) + 1),
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder)

    def to_teacher_forcing(context, target):
        target_in, target_out = shift_for_teacher_forcing(target)
        return (context, target_in), target_out

    return dataset.map(to_teacher_forcing, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
