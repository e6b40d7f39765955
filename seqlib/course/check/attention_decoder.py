"""Lab 2's graders, encoder, attention and decoder: `attention` (Luong's masked
dot-product attention) and `decoder` (the decoder wired from the model's layers)."""

import numpy as np

from seqlib.conventions import NEG_INF
from seqlib.course.check.inputs import SEED, random_targets, small_model
from seqlib.course.check.report import call, close, expect_shape, fail, passed, show, to_numpy, unpack


def _reference_attention(query, keys, values, source_tokens, scale=1.0, masked=True):
    scores = query @ keys.transpose(0, 2, 1) * scale
    if masked:
        scores = np.where((source_tokens != 0)[:, None, :], scores, NEG_INF)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ values, weights


def attention(attention_fn):
    """Checks attention_fn(query (batch, t, units), keys (batch, s, units),
    values (batch, s, 2*units), source_tokens (batch, s)) -> (attended, weights)."""
    import tensorflow as tf

    from seqlib.models.attention import LuongAttention

    exercise = "attention"
    returns = "a tuple (attended (batch, t, 2*units), weights (batch, t, s))"
    rng = np.random.default_rng(SEED + 1)
    layer = LuongAttention()
    for batch_size, t, s, units in ((2, 3, 5, 4), (3, 1, 6, 8), (1, 4, 2, 3)):
        query = rng.normal(size=(batch_size, t, units)).astype(np.float32)
        keys = rng.normal(size=(batch_size, s, units)).astype(np.float32)
        values = rng.normal(size=(batch_size, s, 2 * units)).astype(np.float32)
        source_tokens = rng.integers(4, 50, size=(batch_size, s)).astype(np.int32)
        source_tokens[0, s - 1 :] = 0  # the first sentence is padded
        described = f"batch={batch_size}, t={t}, s={s}, units={units}, random query, keys and values, source_tokens =\n{show(source_tokens)}"
        arguments = tuple(tf.constant(a) for a in (query, keys, values, source_tokens))
        result = unpack(exercise, call(exercise, attention_fn, arguments, described, returns), ("attended", "weights"), described)
        attended = to_numpy(exercise, result[0], "attended", described, returns)
        weights = to_numpy(exercise, result[1], "weights", described, returns)
        expected_attended, expected_weights = (np.asarray(x) for x in layer(*arguments))
        expect_shape(exercise, "weights", weights, expected_weights.shape, described)
        expect_shape(exercise, "attended", attended, expected_attended.shape, described)
        if not close(weights, expected_weights):
            expected, got = f"weights[0] =\n{show(expected_weights[0])}", f"weights[0] =\n{show(weights[0])}"
            if not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-4):
                hint = (
                    "each row of weights must sum to 1 over the source positions (the last axis); take the softmax over axis -1."
                )
                got += f"\nrow sums =\n{show(weights.sum(axis=-1))}"
            elif np.abs(weights[0, :, s - 1 :]).max() > 1e-6:
                hint = (
                    f"padded source positions (source_tokens == 0) got weight up to {np.abs(weights[0, :, s - 1 :]).max():.3f}; "
                    "set their scores to a large negative number before the softmax."
                )
            elif close(weights, _reference_attention(query, keys, values, source_tokens, scale=1 / np.sqrt(units))[1]):
                hint = "Luong's score is the plain dot product query · key; do not divide it by sqrt(units) here."
            else:
                hint = "wrong weights; score(t, s) = query_t · key_s, then softmax over s."
            fail(exercise, hint, described, expected, got)
        if not close(attended, expected_attended):
            fail(
                exercise,
                "the weights are right but the attention output is not: attended = weights @ values, a weighted average "
                "of the encoder outputs (batch, t, 2*units).",
                described,
                f"attended[0] =\n{show(expected_attended[0])}",
                f"attended[0] =\n{show(attended[0])}",
            )
    passed(exercise, "scores, masking, softmax and attention outputs match LuongAttention on unseen inputs")


def decoder(decoder_fn):
    """Checks decoder_fn(model, target_in, state, encoder_outputs, attention_keys, context)
    -> logits (batch, t, vocab), wired from the model's layers looked up by name."""
    import tensorflow as tf

    exercise = "decoder"
    returns = "logits, a float Tensor (batch, t, vocab): the training model's output for (context, target_in)"
    rng = np.random.default_rng(SEED + 2)
    model, encoder = small_model()
    context = rng.integers(4, 30, size=(3, 6)).astype(np.int32)
    context[1, 4:] = 0
    target_in = random_targets(rng, 3, 5, vocab_size=40)
    context, target_in = tf.constant(context), tf.constant(target_in)
    encoder_outputs, attention_keys, state = encoder(context)
    described = f"a random untrained model (units=16, vocab=40), context =\n{show(context)}\ntarget_in =\n{show(target_in)}"
    arguments = (model, target_in, state, encoder_outputs, attention_keys, context)
    logits = to_numpy(exercise, call(exercise, decoder_fn, arguments, described, returns), "logits", described, returns)
    expected = np.asarray(model([context, target_in], training=False))
    expect_shape(exercise, "logits", logits, expected.shape, described)
    if close(logits, expected):
        passed(exercise, "your wiring reproduces the training model's logits on an unseen batch")
        return
    shown_expected, shown_got = f"logits[0, 0, :6] = {show(expected[0, 0, :6])}", f"logits[0, 0, :6] = {show(logits[0, 0, :6])}"

    # Find the missing connection by changing one input at a time. Random noise,
    # not a constant: adding a constant to every key leaves the softmax unchanged.
    def perturbed(tensor):
        return tensor + rng.normal(size=tensor.shape).astype(np.float32)

    def changes_when(index, replacement):
        changed = list(arguments)
        changed[index] = replacement
        result = call(exercise, decoder_fn, tuple(changed), described + "\n(one input perturbed with noise)", returns)
        return not close(to_numpy(exercise, result, "logits", described, returns), logits)

    for index, name, hint in (
        (2, "state", "your logits ignore `state`: pass it to the decoder GRU as `initial_state=state`."),
        (3, "encoder_outputs", "your logits ignore `encoder_outputs`: they are the attention layer's values."),
        (4, "attention_keys", "your logits ignore `attention_keys`: they are the attention layer's keys."),
    ):
        if not changes_when(index, perturbed(arguments[index])):
            fail(exercise, hint, described, f"logits that change with {name}; " + shown_expected, shown_got)
    fail(
        exercise,
        "the logits differ from the model's. The order is: target_embedding -> decoder_gru (initial_state=state) "
        "-> attention(decoder_outputs, attention_keys, encoder_outputs, context) -> "
        "attention_concat([decoder_outputs, attended]) -> attention_vector -> output_norm -> logits.",
        described,
        shown_expected,
        shown_got,
    )
