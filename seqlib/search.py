"""Decoding loops over a "next-token logits" step function: greedy, sampling, beam.

Nothing here knows about Keras models. A step function maps the previous tokens
and a state to next-token logits and a new state:

    step_fn(tokens: int32 (batch,), state) -> (logits: float (batch, vocab), state)

`state` is any nest (dict, tuple) of Tensors whose first axis is the batch. Each
loop is a `tf.while_loop`, so inside a `tf.function` it compiles to one graph
with no Python per step, stops early when every sentence has produced the end
token, and works for any batch size.
"""

import tensorflow as tf

NEG_INF = -1e9
# Scores are log(softmax(logits)[token]); probabilities below this are counted as
# this, so a hopeless candidate scores about -87 instead of -inf.
MIN_PROBABILITY = 1e-38
# top_k over vocabulary-sized rows goes through blocks of this many logits.
TOP_K_BLOCK = 128


def log_probabilities(logits, tokens):
    """log softmax(logits)[tokens], without a full log-softmax.

    On a CPU the fused softmax kernel costs half of reduce_logsumexp over a
    vocabulary-sized row (measured: 134 vs 273 us for 64 × 8000 logits).

    Args:
        logits: float32 (rows, vocab).
        tokens: int32 (rows,) or (rows, k).

    Returns:
        float32, the shape of tokens.
    """
    probabilities = tf.nn.softmax(logits)
    chosen = tf.gather(probabilities, tokens, batch_dims=1)
    return tf.math.log(tf.maximum(chosen, MIN_PROBABILITY))


def best_k(values, k):
    """The k largest values of each row and their indices, like tf.math.top_k.

    tf.math.top_k over 8,000-wide rows costs about 4× a max-reduction on a CPU.
    Each of the k best values lies in one of the k blocks with the largest
    maxima, so those blocks are found first and only they are searched.

    Args:
        values: float32 (rows, n); k: int32 scalar, 1 <= k <= n.

    Returns:
        (values float32 (rows, k), indices int32 (rows, k)), largest first.
    """
    rows, width = tf.shape(values)[0], tf.shape(values)[1]
    blocks = (width + TOP_K_BLOCK - 1) // TOP_K_BLOCK
    padded = tf.pad(values, [[0, 0], [0, blocks * TOP_K_BLOCK - width]], constant_values=2 * NEG_INF)
    grid = tf.reshape(padded, [rows, blocks, TOP_K_BLOCK])
    _, best_blocks = tf.math.top_k(tf.reduce_max(grid, axis=-1), k=tf.minimum(k, blocks))
    # Searched in index order, so ties go to the lower index as in tf.math.top_k.
    best_blocks = tf.sort(best_blocks, axis=-1)
    candidates = tf.reshape(tf.gather(grid, best_blocks, batch_dims=1), [rows, -1])
    best_values, within = tf.math.top_k(candidates, k=k)
    indices = tf.gather(best_blocks, within // TOP_K_BLOCK, batch_dims=1) * TOP_K_BLOCK + within % TOP_K_BLOCK
    return best_values, indices


def _run_loop(step_fn, initial_state, start_tokens, end_id, max_length, choose, record_key=None, fixed_length=False):
    """The loop shared by greedy search and sampling.

    Args:
        choose: (logits (batch, vocab) float32, step int32 scalar) -> int32 (batch,).
        record_key: if set, `state[record_key]` after every step is stacked and
            returned (e.g. attention weights for plotting).
        fixed_length: return tokens for all max_length steps (0 after the end)
            instead of trimming to the steps taken. XLA needs it: its shapes are
            fixed when it compiles, so the loop's buffers have max_length slots.

    Returns:
        dict with tokens int32 (batch, t) (0 after the end token, which is kept),
        lengths int32 (batch,) (tokens including the end token), scores float32
        (batch,) (sum of the chosen tokens' log-probabilities), steps int32 (the
        steps taken; t == steps unless fixed_length) and, with record_key,
        records (batch, t, ...).
    """
    batch_size = tf.shape(start_tokens)[0]
    tokens = tf.TensorArray(tf.int32, size=max_length, element_shape=start_tokens.shape)
    records = tf.TensorArray(tf.float32, size=max_length) if record_key is not None else ()
    finished = tf.zeros([batch_size], tf.bool)
    scores = tf.zeros([batch_size], tf.float32)
    lengths = tf.zeros([batch_size], tf.int32)

    def keep_going(step, previous, state, finished, scores, lengths, tokens, records):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(step, previous, state, finished, scores, lengths, tokens, records):
        logits, state = step_fn(previous, state)
        logits = tf.cast(logits, tf.float32)
        chosen = tf.cast(choose(logits, step), tf.int32)
        chosen = tf.where(finished, tf.zeros_like(chosen), chosen)
        chosen_log_prob = log_probabilities(logits, chosen)
        scores += tf.where(finished, 0.0, chosen_log_prob)
        lengths += tf.cast(tf.logical_not(finished), tf.int32)
        tokens = tokens.write(step, chosen)
        if record_key is not None:
            records = records.write(step, tf.cast(state[record_key], tf.float32))
        finished = tf.logical_or(finished, tf.equal(chosen, end_id))
        return step + 1, chosen, state, finished, scores, lengths, tokens, records

    steps, _, _, _, scores, lengths, tokens, records = tf.while_loop(
        keep_going,
        body,
        (tf.constant(0), tf.cast(start_tokens, tf.int32), initial_state, finished, scores, lengths, tokens, records),
    )
    # Only the steps taken were written; reading the others is an error outside XLA.
    stacked_tokens = tokens.stack() if fixed_length else tokens.gather(tf.range(steps))
    result = {"tokens": tf.transpose(stacked_tokens), "lengths": lengths, "scores": scores, "steps": steps}
    if record_key is not None:
        stacked = records.stack() if fixed_length else records.gather(tf.range(steps))
        result["records"] = tf.transpose(stacked, tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], 0))
    return result


def greedy_search(step_fn, initial_state, start_tokens, end_id, max_length, record_key=None, fixed_length=False):
    """Always takes the most probable next token.

    Args:
        step_fn: see the module docstring.
        initial_state: nest of Tensors (batch, ...).
        start_tokens: int32 (batch,), the start ("GO") token of each sentence.
        end_id: int, the end token; a sentence stops growing once it is produced.
        max_length: int32 scalar, the most tokens generated (end token included).
        record_key, fixed_length: see `_run_loop`.

    Returns:
        See `_run_loop`.
    """
    return _run_loop(
        step_fn,
        initial_state,
        start_tokens,
        end_id,
        max_length,
        lambda logits, step: tf.argmax(logits, axis=-1),
        record_key,
        fixed_length,
    )


def sample(step_fn, initial_state, start_tokens, end_id, max_length, temperature=1.0, top_k=0, seed=0):
    """Draws each next token from the softmax of logits / temperature.

    Args:
        temperature: float > 0; small values approach greedy search, large ones
            flatten the distribution.
        top_k: int; if > 0, only the k most probable tokens can be drawn.
        seed: int; the same seed gives the same samples (stateless random ops).

    Returns:
        See `_run_loop`; scores are log-probabilities under the model (temperature 1).
    """
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    seed = tf.cast(seed, tf.int32)

    def choose(logits, step):
        scaled = logits / temperature

        def keep_top_k():
            kth_best = best_k(scaled, tf.minimum(top_k, tf.shape(scaled)[-1]))[0][:, -1:]
            return tf.where(scaled < kth_best, NEG_INF, scaled)

        # Without top-k nothing is filtered, and no vocabulary-wide sort is paid for.
        filtered = tf.cond(top_k > 0, keep_top_k, lambda: scaled)
        return tf.random.stateless_categorical(filtered, 1, seed=tf.stack([seed, step]), dtype=tf.int32)[:, 0]

    return _run_loop(step_fn, initial_state, start_tokens, end_id, max_length, choose)


def length_penalty(lengths, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 turns it off."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_search(step_fn, initial_state, start_tokens, end_id, max_length, beam_width, n_best=1, alpha=0.0):
    """Keeps the beam_width best partial translations at every step.

    Hypotheses are ranked by summed log-probability divided by the GNMT length
    penalty. A hypothesis that produced the end token is frozen: it stops growing
    and keeps its score, and stays in the beam while better ones are not found.
    The loop ends when every beam of every sentence is finished.

    Args:
        step_fn, initial_state, start_tokens, end_id, max_length: as in greedy_search.
        beam_width: int32 scalar >= 1; 1 gives greedy search's output.
        n_best: int32 scalar, 1 <= n_best <= beam_width, hypotheses returned per sentence.
        alpha: float, the length penalty's exponent.

    Returns:
        dict with tokens int32 (batch, n_best, t) (0 after the end token),
        lengths int32 (batch, n_best) and scores float32 (batch, n_best), best first.
    """
    beam_width = tf.cast(beam_width, tf.int32)
    alpha = tf.cast(alpha, tf.float32)
    batch_size = tf.shape(start_tokens)[0]
    flat_size = batch_size * beam_width
    # (batch * beam, ...): every sentence's state repeated once per beam.
    state = tf.nest.map_structure(lambda tensor: tf.repeat(tensor, beam_width, axis=0), initial_state)
    previous = tf.repeat(tf.cast(start_tokens, tf.int32), beam_width)
    # Only beam 0 is live at the start, so the first step does not pick k copies
    # of the same token.
    log_probs = tf.tile(tf.concat([[0.0], tf.fill([beam_width - 1], NEG_INF)], 0)[tf.newaxis], [batch_size, 1])
    finished = tf.zeros([batch_size, beam_width], tf.bool)
    lengths = tf.zeros([batch_size, beam_width], tf.int32)
    sequences = tf.zeros([batch_size, beam_width, 0], tf.int32)

    def keep_going(step, previous, state, log_probs, finished, lengths, sequences):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(step, previous, state, log_probs, finished, lengths, sequences):
        logits, state = step_fn(previous, state)
        logits = tf.cast(logits, tf.float32)
        # Each beam's k best continuations contain the k best of the whole
        # (beam × vocab) grid, so the sort over vocab-sized rows happens per beam
        # and only k × k candidates per sentence are ranked together.
        _, best_tokens = best_k(logits, beam_width)
        step_log_probs = log_probabilities(logits, best_tokens)
        step_log_probs = tf.reshape(step_log_probs, [batch_size, beam_width, beam_width])
        best_tokens = tf.reshape(best_tokens, [batch_size, beam_width, beam_width])
        # A finished hypothesis has one continuation, padding (id 0), at no cost.
        first_only = tf.range(beam_width) == 0
        frozen_log_probs = tf.where(first_only, 0.0, NEG_INF)
        step_log_probs = tf.where(finished[:, :, tf.newaxis], frozen_log_probs, step_log_probs)
        best_tokens = tf.where(finished[:, :, tf.newaxis] & first_only, 0, best_tokens)
        candidate_log_probs = log_probs[:, :, tf.newaxis] + step_log_probs
        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        candidate_scores = candidate_log_probs / length_penalty(candidate_lengths, alpha)[:, :, tf.newaxis]
        flat_scores = tf.reshape(candidate_scores, [batch_size, beam_width * beam_width])
        _, best = tf.math.top_k(flat_scores, k=beam_width)
        parent = best // beam_width
        token = tf.gather(tf.reshape(best_tokens, [batch_size, -1]), best, batch_dims=1)

        log_probs = tf.gather(tf.reshape(candidate_log_probs, [batch_size, -1]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, parent, batch_dims=1)
        was_finished = tf.gather(finished, parent, batch_dims=1)
        finished = tf.logical_or(was_finished, tf.equal(token, end_id))
        sequences = tf.concat([tf.gather(sequences, parent, batch_dims=1), token[:, :, tf.newaxis]], axis=2)
        flat_parent = tf.reshape(parent + tf.range(batch_size)[:, tf.newaxis] * beam_width, [flat_size])
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, flat_parent), state)
        return step + 1, tf.reshape(token, [flat_size]), state, log_probs, finished, lengths, sequences

    _, _, _, log_probs, finished, lengths, sequences = tf.while_loop(
        keep_going,
        body,
        (tf.constant(0), previous, state, log_probs, finished, lengths, sequences),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None]),
            tf.nest.map_structure(lambda tensor: tf.TensorShape([None]).concatenate(tensor.shape[1:]), state),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None, None]),
        ),
    )
    # top_k returned the beams best first, so the first n_best are the answer.
    return {
        "tokens": sequences[:, :n_best],
        "lengths": lengths[:, :n_best],
        "scores": (log_probs / length_penalty(lengths, alpha))[:, :n_best],
    }
