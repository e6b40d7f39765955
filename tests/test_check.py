"""The exercise graders: a right answer passes with a ✓, a plausible wrong one fails
with a message that names the mistake, and an open TODO passes through untouched."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from seqlib import check
from seqlib.attention import LuongAttention
from seqlib.losses import masked_loss
from seqlib.pipeline import shift_for_teacher_forcing
from seqlib.text import PUNCTUATION, standardize


def passes(capsys, grader, function):
    grader(function)
    output = capsys.readouterr().out
    assert output.startswith("✓"), output


def fails(grader, function, *phrases):
    """Runs a grader on a wrong function: it fails with the phrases, and every failure
    says what input it used, what it expected and what came back."""
    with pytest.raises(check.CheckFailed) as failure:
        grader(function)
    message = str(failure.value)
    for phrase in (*phrases, "\n  on input: ", "\n  expected: ", "\n  got:      "):
        assert phrase in message, message
    return message


def todo(*args):
    raise NotImplementedError("TODO: write this")


@pytest.mark.parametrize(
    "grader",
    [
        check.teacher_forcing,
        check.standardize,
        check.attention,
        check.decoder,
        check.masked_loss,
        check.greedy_step,
        check.beam_top_k,
        check.self_attention,
        check.mean_pool,
        check.sentence_search,
    ],
)
def test_an_open_todo_raises_not_implemented_error(grader):
    with pytest.raises(NotImplementedError, match="TODO"):
        grader(todo)


def test_a_crash_names_the_input():
    def crashes(target):
        raise ValueError("shapes do not match")

    message = fails(check.teacher_forcing, crashes, "raised ValueError: shapes do not match", "on input: target =")
    assert "[[" in message


# ---- lab 1 -------------------------------------------------------------------


def test_teacher_forcing(capsys):
    passes(capsys, check.teacher_forcing, shift_for_teacher_forcing)
    passes(capsys, check.teacher_forcing, lambda target: (target[:, :-1], target[:, 1:]))
    fails(check.teacher_forcing, lambda target: (target[:, 1:], target[:, :-1]), "swapped")
    fails(check.teacher_forcing, lambda target: (target[:-1], target[1:]), "batch axis")
    fails(check.teacher_forcing, lambda target: target[:, :-1], "return a tuple (target_in, target_out)", "got:      a ")
    fails(check.teacher_forcing, lambda target: (target[:, :-1], target[:, :-1]), "target_out is wrong", "expected: target_in =")


def test_standardize(capsys):
    passes(capsys, check.standardize, standardize)
    fails(check.standardize, lambda text: tf.strings.lower(standardize(text)), "keeps accents and case", "expected:", "got:")

    def without_elision(text):
        text = tf.strings.regex_replace(text, "[\u2019\u2018\u02bc\u00b4`]", "'")
        text = tf.strings.regex_replace(text, "[\\p{Cc}\\p{Cf}\\p{Z}]", " ")
        text = tf.strings.regex_replace(text, "(" + PUNCTUATION + ")", " \\1 ")
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    fails(check.standardize, without_elision, "the rule that separates French elision", "C' est l' été")

    def nfkc_first(text):  # the order lab 1 used to teach
        return standardize(tf_text.normalize_utf8(text, "NFKC"))

    fails(check.standardize, nfkc_first, "turns ´ into an apostrophe before NFKC")
    # A wrong shape names the sentences, the shape expected and the shape that came back.
    fails(check.standardize, lambda text: standardize(text)[:3], "one string per sentence", "Élise a mangé", "shape (3,)")
    fails(check.standardize, lambda text: None, "did you forget a `return`", "got:      None")


def learner_standardize(text, spaces="[\\p{Cc}\\p{Cf}\\p{Z}]"):
    """seqlib.text.standardize as a learner might write it, with a choice of what counts as a space."""
    text = tf.strings.regex_replace(text, "[\u2019\u2018\u02bc\u00b4`]", "'")
    text = tf_text.normalize_utf8(text, "NFKC")
    text = tf.strings.regex_replace(text, spaces, " ")
    text = tf.strings.regex_replace(text, "(" + PUNCTUATION + ")", " \\1 ")
    text = tf.strings.regex_replace(text, "(\\pL')", "\\1 ")
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def test_standardize_also_grades_seeded_generated_sentences(capsys):
    generated = check._generated_sentences(np.random.default_rng(1), 10)
    assert generated == check._generated_sentences(np.random.default_rng(1), 10)  # seeded: the same every run
    assert not set(generated) & {text for _, text in check.STANDARDIZE_CASES}
    passes(capsys, check.standardize, learner_standardize)
    # Only tabs and space separators (Zs) as spaces: every fixed case passes (the non-breaking spaces
    # are Zs), but a zero-width space (a format character, Cf) in a generated sentence stays.
    message = fails(
        check.standardize, lambda text: learner_standardize(text, "[\\p{Zs}\\t]"), "generated sentence that mixes the rules"
    )
    assert "\\u200b" in message


# ---- lab 2 -------------------------------------------------------------------


def luong(query, keys, values, source_tokens, scale=1.0, mask=True, axis=-1):
    scores = tf.matmul(query, keys, transpose_b=True) * scale
    if mask:
        scores = tf.where(tf.not_equal(source_tokens, 0)[:, tf.newaxis, :], scores, -1e9)
    weights = tf.nn.softmax(scores, axis=axis)
    return tf.matmul(weights, values), weights


def test_attention(capsys):
    passes(capsys, check.attention, lambda *inputs: LuongAttention()(*inputs))
    passes(capsys, check.attention, luong)
    fails(check.attention, lambda *inputs: luong(*inputs, mask=False), "padded source positions")
    fails(check.attention, lambda *inputs: luong(*inputs, axis=1), "sum to 1")
    fails(check.attention, lambda q, k, v, t: luong(q, k, v, t, scale=1 / np.sqrt(q.shape[-1])), "sqrt(units)")
    fails(check.attention, lambda q, k, v, t: (luong(q, k, v, t)[0] * 2, luong(q, k, v, t)[1]), "context = weights @ values")


def decoder(model, target_in, state, encoder_outputs, attention_keys, context, use_state=True, order=1):
    vectors = model.get_layer("target_embedding")(target_in)
    gru = model.get_layer("decoder_gru")
    outputs, _ = gru(vectors, initial_state=state) if use_state else gru(vectors)
    attended, _ = model.get_layer("attention")(outputs, attention_keys, encoder_outputs, context)
    combined = model.get_layer("attention_concat")([outputs, attended][::order])
    return model.get_layer("logits")(model.get_layer("output_norm")(model.get_layer("attention_vector")(combined)))


def test_decoder(capsys):
    passes(capsys, check.decoder, decoder)
    fails(check.decoder, lambda *args: decoder(*args, use_state=False), "ignore `state`", "initial_state=state")
    fails(check.decoder, lambda *args: decoder(*args, order=-1), "attention_concat([decoder_outputs, context_vectors])")
    fails(check.decoder, lambda *args: decoder(*args)[:, :, :-1], "logits has shape")

    def without_norm(model, target_in, state, encoder_outputs, attention_keys, context):
        vectors, _ = model.get_layer("decoder_gru")(model.get_layer("target_embedding")(target_in), initial_state=state)
        attended, _ = model.get_layer("attention")(vectors, attention_keys, encoder_outputs, context)
        combined = model.get_layer("attention_concat")([vectors, attended])
        return model.get_layer("logits")(model.get_layer("attention_vector")(combined))

    fails(check.decoder, without_norm, "-> output_norm -> logits")


# ---- lab 3 -------------------------------------------------------------------


def test_masked_loss(capsys):
    passes(capsys, check.masked_loss, masked_loss)

    def per_token(target_out, logits):
        return keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=True)

    def mask(target_out):
        return tf.cast(tf.not_equal(target_out, 0), tf.float32)

    passes(capsys, check.masked_loss, lambda y, logits: tf.reduce_sum(per_token(y, logits) * mask(y)) / tf.reduce_sum(mask(y)))
    fails(check.masked_loss, lambda y, logits: tf.reduce_mean(per_token(y, logits)), "averaged over padding")
    fails(check.masked_loss, lambda y, logits: tf.reduce_mean(per_token(y, logits) * mask(y)), "divided by all positions")
    fails(check.masked_loss, lambda y, logits: per_token(y, logits) * mask(y), "one number (a scalar)")
    probabilities_assumed = keras.losses.SparseCategoricalCrossentropy()  # from_logits=False, the default
    fails(check.masked_loss, lambda y, logits: probabilities_assumed(y, logits, sample_weight=mask(y)), "from_logits=True")
    fails(check.masked_loss, lambda y, logits: probabilities_assumed(y, logits), "from_logits=True")


# ---- lab 4 -------------------------------------------------------------------


def greedy_step(step_fn, tokens, state, normalise=tf.nn.log_softmax, axis=-1, keep_old_state=False):
    logits, new_state = step_fn(tokens, state)
    chosen = tf.argmax(logits, axis=axis, output_type=tf.int32)
    return chosen, tf.gather(normalise(logits), chosen, batch_dims=1), state if keep_old_state else new_state


def test_greedy_step(capsys):
    passes(capsys, check.greedy_step, greedy_step)
    fails(check.greedy_step, lambda *a: greedy_step(*a, normalise=tf.nn.softmax), "you returned probabilities")
    fails(check.greedy_step, lambda *a: greedy_step(*a, normalise=lambda logits: logits), "raw logits")
    fails(check.greedy_step, lambda *a: greedy_step(*a, keep_old_state=True), "return the state that step_fn gave back")

    def calls_twice(step_fn, tokens, state):
        step_fn(tokens, state)
        return greedy_step(step_fn, tokens, state)

    fails(check.greedy_step, calls_twice, "exactly once")


def beam_top_k(candidate_scores, beam_width, divide_by=None):
    vocab_size = candidate_scores.shape[-1]
    flat = tf.reshape(candidate_scores, [candidate_scores.shape[0], -1])
    scores, best = tf.math.top_k(flat, k=beam_width)
    return scores, best // (divide_by or vocab_size), best % (divide_by or vocab_size)


def test_beam_top_k(capsys):
    passes(capsys, check.beam_top_k, beam_top_k)

    def per_beam(candidate_scores, beam_width):
        scores = tf.reduce_max(candidate_scores, axis=-1)
        tokens = tf.argmax(candidate_scores, axis=-1, output_type=tf.int32)
        return scores, tf.broadcast_to(tf.range(beam_width), tf.shape(scores)), tokens

    fails(check.beam_top_k, per_beam, "flatten (beam × vocab)")

    def first_beam_only(candidate_scores, beam_width):
        # A learner's mistake that passed before the strong beam moved away from beam 0.
        scores, token = tf.math.top_k(candidate_scores[:, 0, :], k=beam_width)
        return scores, tf.zeros_like(token), token

    fails(check.beam_top_k, first_beam_only, "you searched the first beam only")
    fails(check.beam_top_k, lambda scores, k: beam_top_k(scores, k, divide_by=k), "parent = i // vocab_size")
    fails(check.beam_top_k, lambda scores, k: tuple(value[:, ::-1] for value in beam_top_k(scores, k)), "best first")


# ---- lab 5 -------------------------------------------------------------------


def self_attention(query, key, value, causal, scaled=True, masked=True):
    scores = tf.matmul(query, key, transpose_b=True)
    if scaled:
        scores /= tf.sqrt(tf.cast(query.shape[-1], tf.float32))
    if causal and masked:
        allowed = tf.linalg.band_part(tf.ones(scores.shape[-2:]), -1, 0) > 0
        scores = tf.where(allowed, scores, -1e9)
    weights = tf.nn.softmax(scores, axis=-1)
    return tf.matmul(weights, value), weights


def test_self_attention(capsys):
    passes(capsys, check.self_attention, self_attention)
    fails(check.self_attention, lambda *a: self_attention(*a, scaled=False), "sqrt(depth)")
    fails(check.self_attention, lambda *a: self_attention(*a, masked=False), "causal=True")


def test_mean_pool(capsys):
    def mean_pool(outputs, context):
        mask = tf.cast(tf.not_equal(context, 0), tf.float32)[:, :, tf.newaxis]
        return tf.reduce_sum(outputs * mask, axis=1) / tf.reduce_sum(mask, axis=1)

    passes(capsys, check.mean_pool, mean_pool)
    fails(check.mean_pool, lambda outputs, context: tf.reduce_mean(outputs, axis=1), "averaged over padding")
    fails(check.mean_pool, lambda outputs, context: tf.reduce_mean(outputs, axis=2), "shape")


def test_sentence_search(capsys):
    def nearest(queries, sentences, k, normalise=True, best_first=True):
        if normalise:
            queries, sentences = tf.math.l2_normalize(queries, -1), tf.math.l2_normalize(sentences, -1)
        similarity = tf.matmul(queries, sentences, transpose_b=True)
        return tf.math.top_k(similarity if best_first else -similarity, k=k).indices

    passes(capsys, check.sentence_search, nearest)
    fails(check.sentence_search, lambda *a: nearest(*a, normalise=False), "dot-product ranking", "cosine")
    fails(check.sentence_search, lambda *a: nearest(*a, best_first=False), "least similar")
