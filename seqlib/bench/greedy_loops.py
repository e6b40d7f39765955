"""Greedy decoding's loop measured apart from the translator's text handling.

The tutorial's way (a Python loop calling the decoder step eagerly) beside
seqlib's compiled loop in three variants, all on the same vectorized batch.
"""

import numpy as np
import tensorflow as tf

from seqlib.bench.decoding import BATCH
from seqlib.bench.timer import mean_seconds
from seqlib.conventions import END_ID, START_ID, automatic_max_length
from seqlib.decoding import search

# Below this share of sentences equal to the compiled loop's, a variant's speed is not reported.
AGREEMENT_NEEDED = 0.95


def measure_greedy_loops(report, workload, translator):
    """Adds the eager Python loop's and the numeric variants' sentences/s on the first batch."""
    context = translator.vectorize(workload.batches[0])
    max_length = automatic_max_length(int(context.shape[1]))
    eager_seconds = mean_seconds(lambda: eager_greedy(translator, context, max_length), 1)
    report["greedy_sentences_per_s"]["batch_64_eager_python_loop"] = round(BATCH / eager_seconds, 1)
    report["greedy_sentences_per_s"].update(numeric_greedy(translator, context, max_length, workload.repeats))


def eager_greedy(translator, context, max_length):
    """The TF-tutorial way: a Python loop calling the decoder step eagerly."""
    state = translator.encode(context)
    tokens = tf.fill([context.shape[0]], START_ID)
    done = np.zeros(context.shape[0], bool)
    for _ in range(max_length):
        logits, state = translator.step(tokens, state)
        tokens = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
        done |= tokens.numpy() == END_ID
        if done.all():
            break


def numeric_greedy(translator, context, max_length, repeats):
    """Greedy search's numeric part (encoder + loop, no string ops) in sentences/s:
    every sentence kept until the longest ends, finished ones dropped (the
    translator's default), and XLA (fixed shapes, so every sentence kept)."""

    def decode(context, mode):
        step, state, start = translator.start_decoding(context)
        result = search.greedy_search(step, state, start, END_ID, tf.constant(max_length), mode=mode)
        return result["tokens"][:, : result["steps"]]

    variants = {
        "batch_64_numeric_keep_finished": tf.function(lambda context: decode(context, search.KEEP_FINISHED), autograph=False),
        "batch_64_numeric_drop_finished": tf.function(lambda context: decode(context, search.DROP_FINISHED), autograph=False),
        "batch_64_numeric_xla": tf.function(
            lambda context: decode(context, search.FIXED_SHAPE), jit_compile=True, autograph=False
        ),
    }
    expected = variants["batch_64_numeric_keep_finished"](context)
    results = {}
    for name, decode_fn in variants.items():
        try:
            agreement = same_rows(decode_fn(context), expected)
            # Every variant must give the same tokens, or its speed means nothing.
            # XLA and other batch shapes can pick other kernels, whose rounding
            # may flip a near tie (common in an untrained model): a few sentences
            # may differ, not more.
            if agreement < AGREEMENT_NEEDED:
                results[name] = f"failed: only {agreement:.0%} of sentences equal the compiled loop's"
            else:
                results[name] = round(context.shape[0] / mean_seconds(lambda fn=decode_fn: fn(context).numpy(), repeats), 1)
        except Exception as error:  # XLA may refuse a graph; report it, do not hide it
            results[name] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return results


def same_rows(tokens, expected):
    """The fraction of sentences (rows of int32 (batch, t) ids) that two decodings agree on."""
    width = max(int(tokens.shape[1]), int(expected.shape[1]))
    tokens, expected = (tf.pad(t, [[0, 0], [0, width - int(t.shape[1])]]) for t in (tokens, expected))
    return float(tf.reduce_mean(tf.cast(tf.reduce_all(tokens == expected, axis=1), tf.float32)))
