"""Decoding loops with a scripted step function: fixed next-token probabilities."""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf

from seqlib.decoding import search

PAD, START, END, A, B, C = 0, 2, 3, 4, 5, 6
VOCAB = 7
# Next-token probabilities by previous token. Greedy takes A (0.5) then C (0.35):
# 0.175 in all; the best sentence is B END (0.4 * 0.9 = 0.36).
TRANSITIONS = {
    START: {A: 0.5, B: 0.4, END: 0.1},
    A: {C: 0.35, B: 0.33, A: 0.32},
    B: {END: 0.9, A: 0.1},
    C: {END: 0.99, A: 0.01},
    END: {END: 1.0},
}


def transition_logits():
    table = np.full((VOCAB, VOCAB), -1e4, np.float32)
    for previous, nexts in TRANSITIONS.items():
        for token, probability in nexts.items():
            table[previous, token] = math.log(probability)
    return tf.constant(table)


LOGITS = transition_logits()


def step_fn(tokens, state):
    return tf.gather(LOGITS, tokens), {"steps": state["steps"] + 1}


def start(batch_size=1):
    return {"steps": tf.zeros([batch_size], tf.int32)}, tf.fill([batch_size], START)


def test_greedy_follows_argmax_and_stops_at_end():
    state, start_tokens = start(2)
    result = search.greedy_search(step_fn, state, start_tokens, END, tf.constant(10))
    assert result["tokens"].numpy().tolist() == [[A, C, END]] * 2
    assert result["lengths"].numpy().tolist() == [3, 3]
    assert result["scores"].numpy() == pytest.approx([math.log(0.5 * 0.35 * 0.99)] * 2, abs=1e-5)


def test_greedy_respects_max_length():
    state, start_tokens = start()
    result = search.greedy_search(step_fn, state, start_tokens, END, tf.constant(2))
    assert result["tokens"].numpy().tolist() == [[A, C]]


def test_beam_finds_the_better_sentence_greedy_misses():
    state, start_tokens = start()
    result = search.beam_search(step_fn, state, start_tokens, END, tf.constant(10), beam_width=2, n_best=2)
    assert result["tokens"].numpy()[0, 0, :2].tolist() == [B, END]
    assert result["tokens"].numpy()[0, 1].tolist() == [A, C, END]


def test_n_best_scores_are_summed_log_probabilities_best_first():
    state, start_tokens = start()
    result = search.beam_search(step_fn, state, start_tokens, END, tf.constant(10), beam_width=3, n_best=3, alpha=0.0)
    scores = result["scores"].numpy()[0]
    assert scores[0] == pytest.approx(math.log(0.4 * 0.9), abs=1e-5)
    assert scores[1] == pytest.approx(math.log(0.5 * 0.35 * 0.99), abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    assert result["lengths"].numpy()[0, :2].tolist() == [2, 3]


def test_finished_hypotheses_are_frozen():
    state, start_tokens = start()
    result = search.beam_search(step_fn, state, start_tokens, END, tf.constant(10), beam_width=2, n_best=2)
    # B END stopped growing: only padding after the end token, score kept.
    assert result["tokens"].numpy()[0, 0].tolist() == [B, END, PAD]


def test_length_penalty_changes_the_ranking_as_the_formula_says():
    state, start_tokens = start()
    result = search.beam_search(step_fn, state, start_tokens, END, tf.constant(10), beam_width=2, n_best=2, alpha=5.0)
    tokens, scores = result["tokens"].numpy()[0], result["scores"].numpy()[0]
    # (5 + 3) / 6 grows faster than (5 + 2) / 6: the longer sentence now wins.
    assert tokens[0].tolist() == [A, C, END]
    assert scores[0] == pytest.approx(math.log(0.5 * 0.35 * 0.99) / (8 / 6) ** 5, abs=1e-5)
    assert scores[1] == pytest.approx(math.log(0.4 * 0.9) / (7 / 6) ** 5, abs=1e-5)


def test_beam_width_one_is_greedy():
    rng = np.random.default_rng(0)
    table = tf.constant(rng.normal(size=(VOCAB, VOCAB)) * 3, tf.float32)

    def random_step(tokens, state):
        # Depends on the step too, so paths differ between sentences.
        return tf.gather(table, tokens) + tf.cast(state["steps"][:, None], tf.float32) * tf.gather(table, (tokens + 1) % VOCAB), {
            "steps": state["steps"] + 1
        }

    state, start_tokens = start(4)
    start_tokens = tf.constant([START, A, B, C])
    greedy = search.greedy_search(random_step, state, start_tokens, END, tf.constant(12))
    beam = search.beam_search(random_step, state, start_tokens, END, tf.constant(12), beam_width=1, n_best=1)
    np.testing.assert_array_equal(greedy["tokens"].numpy(), beam["tokens"].numpy()[:, 0])
    np.testing.assert_allclose(greedy["scores"].numpy(), beam["scores"].numpy()[:, 0], atol=1e-5)


def test_sampling_near_zero_temperature_is_greedy_and_seeds_repeat():
    state, start_tokens = start(16)
    greedy = search.greedy_search(step_fn, state, start_tokens, END, tf.constant(10))
    cold = search.sample(step_fn, state, start_tokens, END, tf.constant(10), temperature=1e-4, seed=3)
    np.testing.assert_array_equal(cold["tokens"].numpy(), greedy["tokens"].numpy())
    first = search.sample(step_fn, state, start_tokens, END, tf.constant(10), temperature=1.0, seed=5)
    again = search.sample(step_fn, state, start_tokens, END, tf.constant(10), temperature=1.0, seed=5)
    other = search.sample(step_fn, state, start_tokens, END, tf.constant(10), temperature=1.0, seed=6)
    assert first["tokens"].numpy().tolist() == again["tokens"].numpy().tolist()
    assert first["tokens"].numpy().tolist() != other["tokens"].numpy().tolist()


def test_top_k_one_is_greedy():
    state, start_tokens = start(8)
    greedy = search.greedy_search(step_fn, state, start_tokens, END, tf.constant(10))
    top1 = search.sample(step_fn, state, start_tokens, END, tf.constant(10), temperature=5.0, top_k=1, seed=1)
    np.testing.assert_array_equal(top1["tokens"].numpy(), greedy["tokens"].numpy())


def test_loops_compile_in_a_tf_function():
    @tf.function
    def decode(batch_size):
        state, start_tokens = {"steps": tf.zeros([batch_size], tf.int32)}, tf.fill([batch_size], START)
        return search.beam_search(step_fn, state, start_tokens, END, tf.constant(10), beam_width=2, n_best=1)["tokens"]

    assert decode(tf.constant(3)).numpy()[:, 0, :2].tolist() == [[B, END]] * 3


@pytest.mark.parametrize("width", [5, 128, 129, 1000, 7919, 8000, 8003])
@pytest.mark.parametrize("k", [1, 4, 5])
def test_best_k_equals_tf_top_k(width, k):
    k = min(k, width)
    values = tf.random.stateless_normal([7, width], seed=[width, k])
    # Ties across blocks: the lower index wins, as in tf.math.top_k.
    values = tf.concat([values[:, :-1], tf.reduce_max(values, axis=1, keepdims=True)], axis=1)
    expected_values, expected_indices = tf.math.top_k(values, k=k)
    best_values, indices = search.best_k(values, tf.constant(k))
    np.testing.assert_array_equal(best_values.numpy(), expected_values.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    # Width unknown when traced: the padded path.
    unknown_width = tf.function(search.best_k, input_signature=[tf.TensorSpec([None, None]), tf.TensorSpec([], tf.int32)])
    best_values, indices = unknown_width(values, tf.constant(k))
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


def test_log_probabilities_equal_log_softmax():
    logits = tf.random.stateless_normal([3, 50], seed=[1, 2]) * 4
    tokens = tf.constant([[0, 7], [49, 3], [10, 10]])
    expected = tf.gather(tf.nn.log_softmax(logits), tokens, batch_dims=1)
    np.testing.assert_allclose(search.log_probabilities(logits, tokens).numpy(), expected.numpy(), atol=1e-5)


def _ending_step(seed, scale, end_bonus):
    """A step function whose sentences end at different steps, and a counter of
    the rows it computed (the work that dropping finished sentences saves).

    The state holds a per-sentence "bias" (the same for every beam, constant),
    "previous" (each hypothesis's token before the last, so a row moved to the
    wrong place changes the logits) and "steps".
    """
    rng = np.random.default_rng(seed)
    table = tf.constant(rng.normal(size=(VOCAB, VOCAB)) * scale, tf.float32)
    second_table = tf.constant(rng.normal(size=(VOCAB, VOCAB)), tf.float32)
    end_logit = tf.one_hot(END, VOCAB) * end_bonus  # the end token gets likelier every step
    rows_computed = tf.Variable(0)

    def step(tokens, state):
        rows_computed.assign_add(tf.shape(tokens)[0])
        logits = (
            tf.gather(table, tokens)
            + tf.gather(second_table, state["previous"])
            + state["bias"]
            + tf.cast(state["steps"][:, None], tf.float32) * end_logit
        )
        return logits, {**state, "steps": state["steps"] + 1, "previous": tokens}

    def initial_state(batch_size, seed):
        return {
            "steps": tf.zeros([batch_size], tf.int32),
            "previous": tf.zeros([batch_size], tf.int32),
            "bias": tf.random.stateless_normal([batch_size, VOCAB], seed=seed),
        }

    return step, initial_state, rows_computed


def _decode_both_ways(decode, start_tokens, rows_computed):
    """decode(start_tokens, False) and decode(start_tokens, True), checking that the
    second (the one that skips work) computed fewer rows."""
    rows_computed.assign(0)
    plain = decode(start_tokens, False)
    plain_rows = int(rows_computed.numpy())
    rows_computed.assign(0)
    saving = decode(start_tokens, True)
    assert int(rows_computed.numpy()) < plain_rows, "some sentence should have left the batch early"
    return plain, saving


def test_dropping_finished_sentences_changes_no_result():
    step, initial_state, rows_computed = _ending_step(seed=1, scale=3, end_bonus=1.5)

    def step_recording_what_it_saw(tokens, state):
        logits, state = step(tokens, state)
        return logits, state, tf.one_hot(tokens, VOCAB)

    @tf.function
    def decode(start_tokens, drop_finished):
        state = initial_state(tf.shape(start_tokens)[0], seed=[3, 4])
        mode = search.DROP_FINISHED if drop_finished else search.KEEP_FINISHED
        return search.greedy_search(step_recording_what_it_saw, state, start_tokens, END, tf.constant(12), record=True, mode=mode)

    kept, dropped = _decode_both_ways(decode, tf.constant([START, A, B, C, START, A, B]), rows_computed)
    assert len(set(kept["lengths"].numpy().tolist())) > 2, "the sentences should end at different steps"
    for key in ("tokens", "lengths", "records"):
        np.testing.assert_array_equal(dropped[key].numpy(), kept[key].numpy(), err_msg=key)
    np.testing.assert_allclose(dropped["scores"].numpy(), kept["scores"].numpy(), atol=1e-5)


def test_beam_search_dropping_finished_sentences_changes_no_result():
    step, initial_state, rows_computed = _ending_step(seed=2, scale=2, end_bonus=1.0)

    @tf.function
    def decode(start_tokens, drop_finished):
        state = initial_state(tf.shape(start_tokens)[0], seed=[5, 6])
        mode = search.DROP_FINISHED if drop_finished else search.KEEP_FINISHED
        # "bias" is per sentence and constant: a fixed key, dropped with its sentence.
        return search.beam_search(step, state, start_tokens, END, tf.constant(12), 3, 3, 0.6, mode=mode, fixed_keys=("bias",))

    kept, dropped = _decode_both_ways(decode, tf.constant([START, A, B, C, START, A]), rows_computed)
    assert len(set(kept["lengths"].numpy()[:, 0].tolist())) > 2, "the sentences should end at different steps"
    for key in ("tokens", "lengths"):
        np.testing.assert_array_equal(dropped[key].numpy(), kept[key].numpy(), err_msg=key)
    np.testing.assert_allclose(dropped["scores"].numpy(), kept["scores"].numpy(), atol=1e-5)


def test_beam_search_runs_the_first_step_once_a_sentence():
    # Every beam starts from the same token and state, so the first step is
    # computed for each sentence once, not beam_width times.
    step, initial_state, rows_computed = _ending_step(seed=3, scale=2, end_bonus=0.0)
    start_tokens = tf.constant([START, A, B])
    state = initial_state(3, seed=[1, 2])
    logits, _ = step(start_tokens, state)
    rows_computed.assign(0)
    result = search.beam_search(step, state, start_tokens, END, tf.constant(1), 4, 4, alpha=0.6)
    assert int(rows_computed.numpy()) == 3
    # One step: the beams are each sentence's four most probable first tokens, best first.
    expected_tokens = tf.math.top_k(logits, 4).indices.numpy()
    np.testing.assert_array_equal(result["tokens"].numpy()[:, :, 0], expected_tokens)
    assert (result["lengths"].numpy() == 1).all()
    expected_scores = tf.gather(tf.nn.log_softmax(logits), expected_tokens, batch_dims=1) / search.length_penalty(1, 0.6)
    np.testing.assert_allclose(result["scores"].numpy(), expected_scores.numpy(), atol=1e-5)


def test_beam_search_drops_a_sentence_finished_at_the_first_step():
    # With one beam, a sentence whose first token is the end token is done: the
    # next steps compute only the other sentence's row.
    rows = tf.Variable(0)

    def counting_step(tokens, state):
        rows.assign_add(tf.shape(tokens)[0])
        return step_fn(tokens, state)

    state, _ = start(2)
    result = search.beam_search(counting_step, state, tf.constant([B, START]), END, tf.constant(10), 1, mode=search.DROP_FINISHED)
    assert result["tokens"].numpy()[:, 0, :3].tolist() == [[END, PAD, PAD], [A, C, END]]
    # 2 rows at the first step, then 1 row for each of the other two steps.
    assert int(rows.numpy()) == 4


@pytest.mark.parametrize("search_fn", [search.greedy_search, search.sample, functools.partial(search.beam_search, beam_width=2)])
def test_searches_need_at_least_one_step(search_fn):
    state, start_tokens = start()
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length must be >= 1"):
        search_fn(step_fn, state, start_tokens, END, tf.constant(0))


def test_fixed_shape_keeps_every_step_and_drop_finished_trims_the_same_tokens():
    state, start_tokens = start(2)
    # The mode XLA needs, so compiled with XLA: elsewhere the steps not taken cannot be read.
    xla_greedy = tf.function(functools.partial(search.greedy_search, mode=search.FIXED_SHAPE), jit_compile=True, autograph=False)
    fixed = xla_greedy(step_fn, state, start_tokens, END, tf.constant(6))
    dropped = search.greedy_search(step_fn, state, start_tokens, END, tf.constant(6), mode=search.DROP_FINISHED)
    assert fixed["tokens"].numpy().tolist() == [[A, C, END, PAD, PAD, PAD]] * 2
    assert dropped["tokens"].numpy().tolist() == [[A, C, END]] * 2
    assert int(fixed["steps"]) == int(dropped["steps"]) == 3


def test_a_mode_is_one_of_the_named_ones():
    state, start_tokens = start()
    with pytest.raises(ValueError, match="mode='drop'"):
        search.greedy_search(step_fn, state, start_tokens, END, tf.constant(5), mode="drop")
    # Beam search's buffers grow with the steps taken, which XLA's fixed shapes cannot.
    with pytest.raises(ValueError, match="fixed_shape"):
        search.beam_search(step_fn, state, start_tokens, END, tf.constant(5), 2, mode=search.FIXED_SHAPE)


def test_fixed_keys_must_name_state_entries():
    step, initial_state, _ = _ending_step(seed=2, scale=2, end_bonus=1.0)
    with pytest.raises(ValueError, match="fixed_keys"):
        search.beam_search(step, initial_state(2, [1, 2]), tf.constant([A, B]), END, tf.constant(5), 2, fixed_keys=("biass",))


@pytest.mark.parametrize(
    "n_best, alpha, end_bonus, max_length, saves",
    [
        (1, 0.6, 0.5, 15, True),
        (2, 0.0, 0.5, 15, True),
        # A negative alpha rewards length, so live bounds fall far below any
        # finished score: nothing settles early, and the answer must not change.
        (1, -12.0, 0.0, 40, False),
    ],
)
def test_beam_search_stops_a_settled_sentence_with_the_same_answer(n_best, alpha, end_bonus, max_length, saves):
    step, initial_state, rows_computed = _ending_step(seed=4, scale=2, end_bonus=end_bonus)

    @tf.function
    def decode(start_tokens, stop_when_settled):
        state = initial_state(tf.shape(start_tokens)[0], seed=[7, 8])
        return search.beam_search(
            step,
            state,
            start_tokens,
            END,
            tf.constant(max_length),
            4,
            n_best,
            alpha,
            mode=search.DROP_FINISHED,
            stop_when_settled=stop_when_settled,
        )

    start_tokens = tf.constant([START, A, B, C, START, A, B, C])
    if saves:
        full, settled = _decode_both_ways(decode, start_tokens, rows_computed)
    else:
        full, settled = decode(start_tokens, False), decode(start_tokens, True)
    width = full["tokens"].shape[2]
    np.testing.assert_array_equal(settled["tokens"].numpy(), full["tokens"].numpy()[:, :, : settled["tokens"].shape[2]])
    assert not full["tokens"].numpy()[:, :, settled["tokens"].shape[2] : width].any()
    np.testing.assert_array_equal(settled["lengths"].numpy(), full["lengths"].numpy())
    np.testing.assert_allclose(settled["scores"].numpy(), full["scores"].numpy(), rtol=1e-5, atol=1e-5)
