"""The baseline: the TensorFlow tutorial's model, trained the tutorial's way in the same run.

It trains on the same pairs for the same seconds as seqlib's model, so every ratio
in the report compares two figures of one run on one machine.
"""

import tensorflow as tf

from seqlib.bench.flops import fraction_of_peak, tutorial_flops_per_target_token
from seqlib.bench.training import tokens_per_s_for
from seqlib.models import tutorial


def measure_tutorial_training(pairs, seconds, peak_gflops):
    """Trains the tutorial's model on `pairs` for `seconds`: (its translator, the report's baseline figures)."""
    translator, tokens_per_s = train_tutorial(pairs, seconds)
    flops = tutorial_flops_per_target_token()
    figures = {
        "train_tokens_per_s": round(tokens_per_s),
        "model_flops_per_target_token": round(flops),
        "fraction_of_matmul_peak": fraction_of_peak(tokens_per_s, flops, peak_gflops),
    }
    return translator, figures


def train_tutorial(pairs, seconds):
    """The tutorial's model trained the tutorial's way on `pairs` for `seconds`:
    (TutorialGreedy translator, target tokens/s)."""
    source_vectorizer, target_vectorizer = tutorial.make_vectorizers(pairs.english, pairs.french)
    model = tutorial.build(source_vectorizer, target_vectorizer)
    tokens_per_s = tokens_per_s_for(seconds, model, lambda: tutorial_dataset(pairs, source_vectorizer, target_vectorizer))
    return tutorial.TutorialGreedy(model, source_vectorizer, target_vectorizer), tokens_per_s


def tutorial_dataset(pairs, source_vectorizer, target_vectorizer):
    """The tutorial's endless, shuffled training batches of `pairs`: ((context, target_in), target_out)."""

    def vectorize(english, french):
        # As the tutorial does it: text batches vectorized in the pipeline, each padded to its longest.
        target = target_vectorizer(french)
        return (source_vectorizer(english).to_tensor(), target[:, :-1].to_tensor()), target[:, 1:].to_tensor()

    return (
        tf.data.Dataset.from_tensor_slices((list(pairs.english), list(pairs.french)))
        .shuffle(len(pairs), seed=1)
        .repeat()
        .batch(tutorial.BATCH_SIZE)
        .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
