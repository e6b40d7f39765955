"""Lab 5's graders, beyond RNNs: `self_attention` (scaled dot-product attention,
causal or not), `mean_pool` and `sentence_search` (sentence vectors and the
nearest sentences by cosine similarity)."""

import numpy as np

from seqlib.conventions import NEG_INF
from seqlib.course.check.inputs import SEED
from seqlib.course.check.report import call, close, expect_shape, fail, passed, show, to_numpy, unpack


def _reference_self_attention(query, key, value, causal, scaled=True):
    scores = query @ key.transpose(0, 2, 1) / (np.sqrt(query.shape[-1]) if scaled else 1.0)
    if causal:
        t, s = scores.shape[1:]
        scores = np.where(np.tril(np.ones((t, s), bool)), scores, NEG_INF)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ value, weights


def self_attention(attention_fn):
    """Checks attention_fn(query (batch, t, depth), key (batch, t, depth), value (batch, t, depth_v), causal)
    -> (output (batch, t, depth_v), weights (batch, t, t)): scaled dot-product attention."""
    import tensorflow as tf

    exercise = "self_attention"
    returns = "a tuple (output (batch, t, depth_v), weights (batch, t, t))"
    rng = np.random.default_rng(SEED + 6)
    for batch_size, t, depth, causal in ((2, 4, 8, False), (2, 5, 4, True), (1, 3, 16, True)):
        query, key, value = (rng.normal(size=(batch_size, t, depth)).astype(np.float32) for _ in range(3))
        described = f"batch={batch_size}, t={t}, depth={depth}, causal={causal}, random query, key and value"
        arguments = (tf.constant(query), tf.constant(key), tf.constant(value), causal)
        result = unpack(exercise, call(exercise, attention_fn, arguments, described, returns), ("output", "weights"), described)
        output = to_numpy(exercise, result[0], "output", described, returns)
        weights = to_numpy(exercise, result[1], "weights", described, returns)
        want_output, want_weights = _reference_self_attention(query, key, value, causal)
        expect_shape(exercise, "weights", weights, want_weights.shape, described)
        expect_shape(exercise, "output", output, want_output.shape, described)
        if not close(weights, want_weights):
            future = np.triu(np.ones((t, t), bool), k=1)
            if causal and np.abs(weights[:, future]).max() > 1e-6:
                hint = "with causal=True, position i must not attend to a later position j > i: mask the upper triangle."
            elif close(weights, _reference_self_attention(query, key, value, causal, scaled=False)[1]):
                hint = "divide the scores by sqrt(depth) before the softmax, so their spread does not grow with depth."
            elif not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-4):
                hint = "each query's weights must sum to 1 over the keys: take the softmax over the last axis."
            else:
                hint = "weights = softmax(query · keyᵀ / sqrt(depth)) over the last axis."
            fail(exercise, hint, described, f"weights[0] =\n{show(want_weights[0])}", f"weights[0] =\n{show(weights[0])}")
        if not close(output, want_output):
            fail(
                exercise,
                "the weights are right but the output is not: output = weights @ value.",
                described,
                f"output[0] =\n{show(want_output[0])}",
                f"output[0] =\n{show(output[0])}",
            )
    passed(exercise, "scaled dot-product attention, with and without the causal mask, on unseen inputs")


def mean_pool(pool_fn):
    """Checks pool_fn(encoder_outputs float (batch, s, depth), context int (batch, s)) ->
    float (batch, depth): the mean of the outputs at real (non-padding) tokens."""
    import tensorflow as tf

    exercise = "mean_pool"
    returns = "a float Tensor (batch, depth): the mean over the real tokens of each sentence"
    rng = np.random.default_rng(SEED + 7)
    for batch_size, s, depth in ((3, 5, 4), (2, 7, 6)):
        outputs = rng.normal(size=(batch_size, s, depth)).astype(np.float32)
        context = rng.integers(4, 50, size=(batch_size, s)).astype(np.int32)
        context[0, 2:] = 0
        context[1, s - 1 :] = 0
        described = f"random encoder_outputs of shape {outputs.shape}, context =\n{show(context)}"
        result = call(exercise, pool_fn, (tf.constant(outputs), tf.constant(context)), described, returns)
        got = to_numpy(exercise, result, "the result", described, returns)
        mask = (context != 0)[..., None]
        expected = (outputs * mask).sum(axis=1) / mask.sum(axis=1)
        expect_shape(exercise, "the result", got, expected.shape, described, "average over axis 1, the source positions")
        if not close(got, expected):
            if close(got, outputs.mean(axis=1)):
                hint = "you averaged over padding too; average only where context != 0."
            elif close(got, (outputs * mask).sum(axis=1) / s):
                hint = "you summed the real positions but divided by all positions; divide by the number of real tokens."
            else:
                hint = "sum the outputs where context != 0 and divide by the number of real tokens."
            fail(exercise, hint, described, f"row 0 = {show(expected[0])}", f"row 0 = {show(got[0])}")
    passed(exercise, "averages the encoder outputs over real tokens only, on unseen inputs")


def sentence_search(search_fn):
    """Checks search_fn(query_vectors (queries, depth), sentence_vectors (n, depth), k) ->
    int (queries, k): the k most cosine-similar sentences of each query, best first."""
    import tensorflow as tf

    exercise = "sentence_search"
    returns = "an int Tensor (queries, k): the indices of the k most cosine-similar sentences, best first"
    rng = np.random.default_rng(SEED + 8)
    for queries, n, depth, k in ((2, 12, 5, 3), (3, 20, 8, 1)):
        sentences = rng.normal(size=(n, depth)).astype(np.float32)
        # Lengths vary a lot, so a plain dot product ranks long vectors first.
        sentences *= rng.uniform(0.1, 10.0, size=(n, 1)).astype(np.float32)
        query = rng.normal(size=(queries, depth)).astype(np.float32)
        described = f"{queries} random queries and {n} random sentences of depth {depth} (of very different lengths), k={k}"
        result = call(exercise, search_fn, (tf.constant(query), tf.constant(sentences), k), described, returns)
        got = to_numpy(exercise, result, "the result", described, returns)
        unit = sentences / np.linalg.norm(sentences, axis=1, keepdims=True)
        similarity = (query / np.linalg.norm(query, axis=1, keepdims=True)) @ unit.T
        expected = np.argsort(-similarity, axis=1)[:, :k]
        expect_shape(exercise, "the result", got, expected.shape, described)
        if not np.array_equal(got, expected):
            if np.array_equal(got, np.argsort(-(query @ sentences.T), axis=1)[:, :k]):
                hint = "that is the dot-product ranking; normalise both sides to unit length (cosine similarity), so long vectors do not win."
            elif np.array_equal(got, np.argsort(similarity, axis=1)[:, :k]):
                hint = "you returned the least similar sentences; sort best first."
            elif close(got.astype(np.float64), -np.sort(-similarity, axis=1)[:, :k]):
                hint = "you returned the similarities themselves; return the sentences' indices (top_k's .indices)."
            else:
                hint = "rank the sentences by cosine similarity to each query and return the indices of the k best."
            fail(exercise, hint, described, show(expected), show(got))
    passed(exercise, "returns the k nearest sentences by cosine similarity, best first, on unseen vectors")
