"""The exercise graders: a right answer passes with a ✓, a plausible wrong one fails
with a message that names the mistake, and an open TODO passes through untouched."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from seqlib.conventions import NEG_INF
from seqlib.course import check
from seqlib.course.check.data import (
    STANDARDIZE_CASES,
    WORDPIECE_CASES,
    generated_sentences,
    generated_wordpiece_cases,
    greedy_wordpiece,
    wordpiece_reference,
)
from seqlib.data.pipeline import shift_for_teacher_forcing
from seqlib.data.text import PUNCTUATION, standardize
from seqlib.decoding.search import length_penalty
from seqlib.models.attention import LuongAttention
from seqlib.models.losses import masked_loss


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
        check.wordpiece,
        check.attention,
        check.decoder,
        check.masked_loss,
        check.train_step,
        check.greedy_step,
        check.greedy_search,
        check.beam_search,
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
    """seqlib.data.text.standardize as a learner might write it, with a choice of what counts as a space."""
    text = tf.strings.regex_replace(text, "[\u2019\u2018\u02bc\u00b4`]", "'")
    text = tf_text.normalize_utf8(text, "NFKC")
    text = tf.strings.regex_replace(text, spaces, " ")
    text = tf.strings.regex_replace(text, "(" + PUNCTUATION + ")", " \\1 ")
    text = tf.strings.regex_replace(text, "(\\pL')", "\\1 ")
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def test_standardize_also_grades_seeded_generated_sentences(capsys):
    generated = generated_sentences(np.random.default_rng(1), 10)
    assert generated == generated_sentences(np.random.default_rng(1), 10)  # seeded: the same every run
    assert not set(generated) & {text for _, text in STANDARDIZE_CASES}
    passes(capsys, check.standardize, learner_standardize)
    # Only tabs and space separators (Zs) as spaces: every fixed case passes (the non-breaking spaces
    # are Zs), but a zero-width space (a format character, Cf) in a generated sentence stays.
    message = fails(
        check.standardize, lambda text: learner_standardize(text, "[\\p{Zs}\\t]"), "generated sentence that mixes the rules"
    )
    assert "\\u200b" in message


def learner_wordpiece(
    word, vocabulary, shortest=False, output_joiner=True, lookup_joiner=True, joiner_first=False, failure="unk"
):
    """WordPiece's split as a learner might write it, with a choice of the usual mistakes."""
    pieces, start = [], 0
    while start < len(word):
        ends = range(start + 1, len(word) + 1) if shortest else range(len(word), start, -1)
        prefix = "##" if start > 0 or joiner_first else ""
        found = next((end for end in ends if (prefix if lookup_joiner else "") + word[start:end] in vocabulary), None)
        if found is None:
            if failure == "unk":
                return ["[UNK]"]
            if failure == "partial":
                return pieces + ["[UNK]"]
            start += 1  # "skip": drops the character
            continue
        pieces.append((prefix if output_joiner else "") + word[start:found])
        start = found
    return pieces


def test_wordpiece(capsys):
    passes(capsys, check.wordpiece, learner_wordpiece)
    passes(capsys, check.wordpiece, lambda word, vocabulary: tuple(learner_wordpiece(word, vocabulary)))
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, shortest=True), "SHORTEST", "LONGEST", "word = ")
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, output_joiner=False), 'forgot the "##" prefix', "'##ons'")
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, joiner_first=True), 'the "##" prefix on the first piece')
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, failure="partial"), 'pieces found so far plus "[UNK]"')
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, failure="skip"), "skipped that character")
    # Mid-word pieces looked up bare ("ons" is not in the vocabulary, "##ons" is): the "##" form must be looked up.
    message = fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, lookup_joiner=False), "looked up the bare piece")
    assert "word = 'mangeons'" in message and "got:      ['[UNK]']" in message
    fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, lookup_joiner=False, output_joiner=False), 'You ignored "##"')
    # Two mistakes at once: both are named.
    message = fails(check.wordpiece, lambda w, v: learner_wordpiece(w, v, shortest=True, failure="partial"), "SHORTEST")
    assert 'plus "[UNK]"' in message
    fails(check.wordpiece, lambda w, v: " ".join(learner_wordpiece(w, v)), "return a list of the pieces", "got:      a str")
    fails(check.wordpiece, lambda w, v: None, "return a list of the pieces", "did you forget a `return`")


def test_the_wordpiece_reference_is_fast_wordpiece_and_the_generated_words_need_every_rule():
    generated = generated_wordpiece_cases(np.random.default_rng(3))
    assert generated == generated_wordpiece_cases(np.random.default_rng(3))  # seeded: the same every run
    cases = [(vocabulary, [word]) for _, word, vocabulary in WORDPIECE_CASES] + generated
    splits = [
        (word, vocabulary, expected)
        for vocabulary, words in cases
        for word, expected in zip(words, wordpiece_reference(words, vocabulary))
    ]
    # tensorflow-text's FastWordpieceTokenizer and the plain greedy loop agree, on the named words and the generated ones.
    for word, vocabulary, expected in splits:
        assert greedy_wordpiece(word, vocabulary) == expected, word
    outcomes = [expected for _, _, expected in splits[len(WORDPIECE_CASES) :]]
    assert any(expected == ["[UNK]"] for expected in outcomes) and sum(len(expected) > 2 for expected in outcomes) >= 5
    # Every single mistake changes the split of at least one generated word.
    for mistake in (
        {"longest": False},
        {"lookup": "never"},
        {"mark": "never"},
        {"mark": "always"},
        {"on_failure": "partial"},
        {"on_failure": "skip"},
    ):
        assert any(
            greedy_wordpiece(word, vocabulary, **mistake) != expected
            for word, vocabulary, expected in splits[len(WORDPIECE_CASES) :]
        ), mistake


# ---- lab 2 -------------------------------------------------------------------


def luong(query, keys, values, source_tokens, scale=1.0, mask=True, axis=-1):
    scores = tf.matmul(query, keys, transpose_b=True) * scale
    if mask:
        scores = tf.where(tf.not_equal(source_tokens, 0)[:, tf.newaxis, :], scores, NEG_INF)
    weights = tf.nn.softmax(scores, axis=axis)
    return tf.matmul(weights, values), weights


def test_attention(capsys):
    passes(capsys, check.attention, lambda *inputs: LuongAttention()(*inputs))
    passes(capsys, check.attention, luong)
    fails(check.attention, lambda *inputs: luong(*inputs, mask=False), "padded source positions")
    fails(check.attention, lambda *inputs: luong(*inputs, axis=1), "sum to 1")
    fails(check.attention, lambda q, k, v, t: luong(q, k, v, t, scale=1 / np.sqrt(q.shape[-1])), "sqrt(units)")
    fails(check.attention, lambda q, k, v, t: (luong(q, k, v, t)[0] * 2, luong(q, k, v, t)[1]), "attended = weights @ values")


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
    fails(check.decoder, lambda *args: decoder(*args, order=-1), "attention_concat([decoder_outputs, attended])")
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


def train_step(model, optimizer, loss_fn, context, target_in, target_out, labels="out", sign=1.0, variables=None, tape_loss=True):
    """A GradientTape step; the keyword arguments make the typical mistakes."""
    with tf.GradientTape() as tape:
        logits = model([context, target_in], training=True)
        loss = loss_fn(target_out if labels == "out" else target_in, logits)
    if not tape_loss:  # the loss computed again after the tape closed
        loss = loss_fn(target_out, model([context, target_in], training=True))
    chosen = model.trainable_variables[: variables or None]
    gradients = tape.gradient(loss, chosen)
    optimizer.apply_gradients(zip([sign * tf.convert_to_tensor(gradient) for gradient in gradients], chosen))
    return loss


def test_train_step(capsys):
    passes(capsys, check.train_step, train_step)
    fails(check.train_step, lambda *a: train_step(*a, labels="in"), "the loss against target_in; the labels are target_out")
    fails(check.train_step, lambda *a: train_step(*a, sign=-1.0), "up the gradient")
    fails(check.train_step, lambda *a: train_step(*a, variables=3), "only 3 of the", "model.trainable_variables, all of them")
    fails(check.train_step, lambda *a: train_step(*a, tape_loss=False), "inside `with tf.GradientTape() as tape:`")

    def no_update(model, optimizer, loss_fn, context, target_in, target_out):
        return loss_fn(target_out, model([context, target_in], training=True))

    fails(check.train_step, no_update, "the weights did not change", "apply_gradients")

    def own_optimizer(model, optimizer, loss_fn, context, target_in, target_out):
        return train_step(model, keras.optimizers.SGD(learning_rate=0.5), loss_fn, context, target_in, target_out)

    fails(check.train_step, own_optimizer, "with the `optimizer` passed in")

    def unmasked(model, optimizer, loss_fn, context, target_in, target_out):
        def mean_over_all(y, logits):
            return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

        return train_step(model, optimizer, mean_over_all, context, target_in, target_out)

    fails(check.train_step, unmasked, "counts the padding")


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


def greedy_search(step_fn, state, start_tokens, end_id, max_length, pad=True, stop="all", keep_end=True, feed_back=True):
    """A learner's batched greedy loop; the keyword arguments make the typical mistakes."""
    tokens, finished, columns = start_tokens, tf.zeros_like(start_tokens, tf.bool), []
    for _ in range(max_length):
        logits, state = step_fn(tokens, state)
        chosen = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if pad:
            chosen = tf.where(finished, 0, chosen)
        columns.append(chosen if keep_end else tf.where(chosen == end_id, 0, chosen))
        finished = finished | (chosen == end_id)
        tokens = chosen if feed_back else start_tokens
        if (stop == "all" and tf.reduce_all(finished)) or (stop == "any" and tf.reduce_any(finished)):
            break
    return tf.stack(columns, axis=1)


def test_greedy_search(capsys):
    passes(capsys, check.greedy_search, greedy_search)
    fails(check.greedy_search, lambda *a: greedy_search(*a, pad=False), "write 0 (padding) for rows that have finished")
    fails(check.greedy_search, lambda *a: greedy_search(*a, stop="any"), "stopped when the first row finished")
    fails(check.greedy_search, lambda *a: greedy_search(*a, stop="never"), "stop as soon as every row has produced end_id")
    fails(check.greedy_search, lambda *a: greedy_search(*a, keep_end=False), "keep end_id in the output")
    fails(check.greedy_search, lambda *a: greedy_search(*a, feed_back=False), "feed each step's chosen tokens back")

    def state_not_carried(step_fn, state, start_tokens, end_id, max_length):
        return greedy_search(lambda tokens, _: step_fn(tokens, state), state, start_tokens, end_id, max_length)

    fails(check.greedy_search, state_not_carried, "pass the state that step_fn returned")


def beam_search(
    step_fn, state, start_tokens, end_id, max_length, beam_width, alpha, top_k="flat", freeze=True, penalise=True, reorder=True
):
    """A learner's beam search over one sentence; the keyword arguments make the typical mistakes."""
    hypotheses, log_probs = [[]], tf.zeros([1])
    lengths, finished, tokens = tf.zeros([1]), tf.zeros([1], tf.bool), start_tokens
    for _ in range(max_length):
        logits, new_state = step_fn(tokens, state)
        step_log_probs = tf.nn.log_softmax(logits)
        vocab_size = step_log_probs.shape[-1]
        if freeze:
            frozen = tf.where(tf.range(vocab_size) == 0, 0.0, NEG_INF)
            step_log_probs = tf.where(finished[:, None], frozen, step_log_probs)
        candidate_log_probs = log_probs[:, None] + step_log_probs
        candidate_lengths = lengths + (tf.cast(~finished, tf.float32) if freeze else 1.0)
        scores = candidate_log_probs / (length_penalty(candidate_lengths, alpha)[:, None] if penalise else 1.0)
        if top_k == "per beam" and len(hypotheses) > 1:
            token = tf.argmax(scores, axis=-1, output_type=tf.int32)
            parent = tf.argsort(-tf.gather(scores, token, batch_dims=1), stable=True)
            token = tf.gather(token, parent)
        else:
            _, best = tf.math.top_k(tf.reshape(scores, [-1]), k=beam_width)
            parent, token = best // vocab_size, best % vocab_size
        hypotheses = [hypotheses[p] + [t] for p, t in zip(parent.numpy(), token.numpy())]
        log_probs = tf.gather(tf.reshape(candidate_log_probs, [-1]), parent * vocab_size + token)
        lengths = tf.gather(candidate_lengths, parent)
        finished = (tf.gather(finished, parent) if freeze else tf.zeros_like(token, tf.bool)) | (token == end_id)
        if not freeze:
            finished = tf.constant([end_id in hypothesis for hypothesis in hypotheses])
        rows = parent if reorder or len(hypotheses) == 1 or tf.shape(new_state["step"])[0] == 1 else tf.range(len(parent))
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), new_state)
        tokens = token
        if tf.reduce_all(finished):
            break
    scores = log_probs / length_penalty(lengths, alpha)
    best = int(tf.argmax(scores))
    return [t for t in hypotheses[best] if t != 0], float(scores[best])


def test_beam_search(capsys):
    passes(capsys, check.beam_search, beam_search)
    fails(check.beam_search, lambda *a: beam_search(*a, top_k="per beam"), "kept only its own best word")
    fails(check.beam_search, lambda *a: beam_search(*a, freeze=False), "went on after end_id")
    fails(check.beam_search, lambda *a: beam_search(*a, penalise=False), "not only at the end")
    fails(check.beam_search, lambda *a: beam_search(*a, reorder=False), "continue from its parent's state")


# ---- lab 5 -------------------------------------------------------------------


def self_attention(query, key, value, causal, scaled=True, masked=True, softmax_axis=-1):
    scores = tf.matmul(query, key, transpose_b=True)
    if scaled:
        scores /= tf.sqrt(tf.cast(query.shape[-1], tf.float32))
    if causal and masked:
        allowed = tf.linalg.band_part(tf.ones(scores.shape[-2:]), -1, 0) > 0
        scores = tf.where(allowed, scores, NEG_INF)
    weights = tf.nn.softmax(scores, axis=softmax_axis)
    return tf.matmul(weights, value), weights


def test_self_attention(capsys):
    passes(capsys, check.self_attention, self_attention)
    fails(check.self_attention, lambda *a: self_attention(*a, scaled=False), "sqrt(depth)")
    fails(check.self_attention, lambda *a: self_attention(*a, masked=False), "causal=True")
    fails(check.self_attention, lambda *a: self_attention(*a, softmax_axis=1), "sum to 1 over the keys")
    fails(
        check.self_attention,
        lambda q, k, v, causal: (self_attention(q, k, k, causal)[0], self_attention(q, k, v, causal)[1]),
        "output = weights @ value",
    )


def test_mean_pool(capsys):
    def mean_pool(outputs, context):
        mask = tf.cast(tf.not_equal(context, 0), tf.float32)[:, :, tf.newaxis]
        return tf.reduce_sum(outputs * mask, axis=1) / tf.reduce_sum(mask, axis=1)

    passes(capsys, check.mean_pool, mean_pool)
    fails(check.mean_pool, lambda outputs, context: tf.reduce_mean(outputs, axis=1), "averaged over padding")
    fails(check.mean_pool, lambda outputs, context: tf.reduce_mean(outputs, axis=2), "shape")

    def divided_by_all(outputs, context):
        mask = tf.cast(tf.not_equal(context, 0), tf.float32)[:, :, tf.newaxis]
        return tf.reduce_sum(outputs * mask, axis=1) / outputs.shape[1]

    fails(check.mean_pool, divided_by_all, "divided by all positions")


def test_sentence_search(capsys):
    def nearest(queries, sentences, k, normalise=True, best_first=True):
        if normalise:
            queries, sentences = tf.math.l2_normalize(queries, -1), tf.math.l2_normalize(sentences, -1)
        similarity = tf.matmul(queries, sentences, transpose_b=True)
        return tf.math.top_k(similarity if best_first else -similarity, k=k).indices

    passes(capsys, check.sentence_search, nearest)
    fails(check.sentence_search, lambda *a: nearest(*a, normalise=False), "dot-product ranking", "cosine")
    fails(check.sentence_search, lambda *a: nearest(*a, best_first=False), "least similar")

    def similarities(queries, sentences, k):
        similarity = tf.matmul(tf.math.l2_normalize(queries, -1), tf.math.l2_normalize(sentences, -1), transpose_b=True)
        return tf.math.top_k(similarity, k=k).values

    fails(check.sentence_search, similarities, "you returned the similarities themselves")
