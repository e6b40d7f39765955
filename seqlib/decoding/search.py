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

from seqlib.conventions import NEG_INF

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


def _block_size(width):
    """Block size for best_k: a divisor of width near TOP_K_BLOCK when there is
    one, so the logits are reshaped in place instead of padded (a copy that cost
    half of best_k on 256 × 8,000 logits); else TOP_K_BLOCK, with padding."""
    if width is not None:
        for distance in range(TOP_K_BLOCK // 2):
            for size in (TOP_K_BLOCK - distance, TOP_K_BLOCK + distance):
                if width % size == 0:
                    return size
    return TOP_K_BLOCK


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
    block = _block_size(values.shape[-1])
    rows, width = tf.shape(values)[0], tf.shape(values)[1]
    blocks = (width + block - 1) // block
    padded = values
    if values.shape[-1] is None or values.shape[-1] % block:
        padded = tf.pad(values, [[0, 0], [0, blocks * block - width]], constant_values=2 * NEG_INF)
    grid = tf.reshape(padded, [rows, blocks, block])
    _, best_blocks = tf.math.top_k(tf.reduce_max(grid, axis=-1), k=tf.minimum(k, blocks))
    # Searched in index order, so ties go to the lower index as in tf.math.top_k.
    best_blocks = tf.sort(best_blocks, axis=-1)
    candidates = tf.reshape(tf.gather(grid, best_blocks, batch_dims=1), [rows, -1])
    best_values, within = tf.math.top_k(candidates, k=k)
    indices = tf.gather(best_blocks, within // block, batch_dims=1) * block + within % block
    return best_values, indices


def _any_rows(tensor):
    """A shape invariant for a tensor whose first (row) dimension shrinks in a loop."""
    return tf.TensorShape([None]).concatenate(tensor.shape[1:])


def _run_loop(
    step_fn, initial_state, start_tokens, end_id, max_length, choose, record_key=None, fixed_length=False, drop_finished=False
):
    """The loop shared by greedy search and sampling.

    Args:
        choose: (logits (batch, vocab) float32, step int32 scalar) -> int32 (batch,).
        record_key: if set, `state[record_key]` after every step is stacked and
            returned (e.g. attention weights for plotting).
        fixed_length: return tokens for all max_length steps (0 after the end)
            instead of trimming to the steps taken. XLA needs it: its shapes are
            fixed when it compiles, so the loop's buffers have max_length slots.
        drop_finished: after each step, sentences that produced the end token
            leave the batch, so later steps only compute the unfinished ones.
            Needs every per-sentence tensor the step function reads to be in
            `state` (the loop gathers the rows it keeps); not with fixed_length.

    Returns:
        dict with tokens int32 (batch, t) (0 after the end token, which is kept),
        lengths int32 (batch,) (tokens including the end token), scores float32
        (batch,) (sum of the chosen tokens' log-probabilities), steps int32 (the
        steps taken; t == steps unless fixed_length) and, with record_key,
        records (batch, t, ...), zeros after a sentence's end.
    """
    if fixed_length and drop_finished:
        raise ValueError("drop_finished changes the batch size between steps, which fixed_length (XLA) cannot")
    tf.debugging.assert_positive(max_length, message="max_length must be >= 1")
    batch_size = tf.shape(start_tokens)[0]
    tokens = tf.TensorArray(tf.int32, size=max_length, element_shape=start_tokens.shape)
    records = tf.TensorArray(tf.float32, size=max_length) if record_key is not None else ()
    scores = tf.zeros([batch_size], tf.float32)
    lengths = tf.zeros([batch_size], tf.int32)
    # The sentences still decoding, as rows of the full batch; without
    # drop_finished every row stays and `finished` marks the ones that are done.
    rows = tf.range(batch_size)
    finished = tf.zeros([batch_size], tf.bool)

    def full_batch(values, rows):
        """values (active, ...) of the rows still decoding -> (batch, ...), 0 for the others."""
        shape = tf.concat([[batch_size], tf.shape(values)[1:]], 0)
        return tf.scatter_nd(rows[:, tf.newaxis], values, shape)

    def keep_going(step, previous, state, rows, finished, scores, lengths, tokens, records):
        # At least one step, even for an empty batch: stacking no steps at all
        # fails (the buffers' element shapes are only known once written).
        going = tf.logical_or(tf.equal(step, 0), tf.logical_not(tf.reduce_all(finished)))
        return tf.logical_and(step < max_length, going)

    def body(step, previous, state, rows, finished, scores, lengths, tokens, records):
        logits, state = step_fn(previous, state)
        logits = tf.cast(logits, tf.float32)
        chosen = tf.cast(choose(logits, step), tf.int32)
        # With drop_finished no row is finished here (they left the batch), so
        # these masks change nothing; they matter when every row stays.
        chosen = tf.where(finished, tf.zeros_like(chosen), chosen)
        chosen_log_prob = tf.where(finished, 0.0, log_probabilities(logits, chosen))
        growing = tf.cast(tf.logical_not(finished), tf.int32)
        if drop_finished:
            scores = tf.tensor_scatter_nd_add(scores, rows[:, tf.newaxis], chosen_log_prob)
            lengths = tf.tensor_scatter_nd_add(lengths, rows[:, tf.newaxis], growing)
        else:
            scores, lengths = scores + chosen_log_prob, lengths + growing
        tokens = tokens.write(step, full_batch(chosen, rows) if drop_finished else chosen)
        if record_key is not None:
            record = tf.cast(state[record_key], tf.float32)
            # Steps after a sentence's end record nothing (zeros), whichever rows are kept.
            record = tf.where(tf.reshape(finished, [-1] + [1] * (record.shape.rank - 1)), 0.0, record)
            records = records.write(step, full_batch(record, rows) if drop_finished else record)
        finished = tf.logical_or(finished, tf.equal(chosen, end_id))
        if drop_finished:

            def drop():
                keep = tf.where(tf.logical_not(finished))[:, 0]
                return (
                    tf.gather(chosen, keep),
                    tf.nest.map_structure(lambda tensor: tf.gather(tensor, keep), state),
                    tf.gather(rows, keep),
                    tf.gather(finished, keep),
                )

            # Gathering the state copies it, so only when a sentence has ended.
            chosen, state, rows, finished = tf.cond(tf.reduce_any(finished), drop, lambda: (chosen, state, rows, finished))
        return step + 1, chosen, state, rows, finished, scores, lengths, tokens, records

    loop_vars = (tf.constant(0), tf.cast(start_tokens, tf.int32), initial_state, rows, finished, scores, lengths, tokens, records)
    options = {}
    if drop_finished:
        # The rows still decoding shrink from step to step.
        options["shape_invariants"] = (
            tf.TensorShape([]),
            tf.TensorShape([None]),
            tf.nest.map_structure(_any_rows, initial_state),
            tf.TensorShape([None]),
            tf.TensorShape([None]),
            scores.shape,
            lengths.shape,
            tf.TensorShape(None),
            tf.TensorShape(None) if record_key is not None else (),
        )
    steps, _, _, _, _, scores, lengths, tokens, records = tf.while_loop(keep_going, body, loop_vars, **options)
    # Only the steps taken were written; reading the others is an error outside XLA.
    stacked_tokens = tokens.stack() if fixed_length else tokens.gather(tf.range(steps))
    result = {"tokens": tf.transpose(stacked_tokens), "lengths": lengths, "scores": scores, "steps": steps}
    if record_key is not None:
        stacked = records.stack() if fixed_length else records.gather(tf.range(steps))
        result["records"] = tf.transpose(stacked, tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], 0))
    return result


def greedy_search(
    step_fn, initial_state, start_tokens, end_id, max_length, record_key=None, fixed_length=False, drop_finished=False
):
    """Always takes the most probable next token.

    Args:
        step_fn: see the module docstring.
        initial_state: nest of Tensors (batch, ...).
        start_tokens: int32 (batch,), the start ("GO") token of each sentence.
        end_id: int, the end token; a sentence stops growing once it is produced.
        max_length: int32 scalar >= 1, the most tokens generated (end token included).
        record_key, fixed_length, drop_finished: see `_run_loop`.

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
        drop_finished,
    )


def sample(step_fn, initial_state, start_tokens, end_id, max_length, temperature=1.0, top_k=0, seed=0, drop_finished=False):
    """Draws each next token from the softmax of logits / temperature.

    Args:
        temperature: float > 0; small values approach greedy search, large ones
            flatten the distribution.
        top_k: int; if > 0, only the k most probable tokens can be drawn.
        seed: int; the same seed gives the same samples (stateless random ops)
            for the same drop_finished setting.
        drop_finished: see `_run_loop`. The random numbers are drawn per row of
            the running batch, so dropping rows gives other (equally valid) samples.

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

    return _run_loop(step_fn, initial_state, start_tokens, end_id, max_length, choose, drop_finished=drop_finished)


def length_penalty(lengths, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 turns it off."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_search(
    step_fn,
    initial_state,
    start_tokens,
    end_id,
    max_length,
    beam_width,
    n_best=1,
    alpha=0.0,
    drop_finished=False,
    fixed_keys=(),
    stop_when_settled=True,
):
    """Keeps the beam_width best partial translations at every step.

    Hypotheses are ranked by summed log-probability divided by the GNMT length
    penalty. A hypothesis that produced the end token is frozen: it stops growing
    and keeps its score, and stays in the beam while better ones are not found.
    A sentence is done when every beam is finished or, with stop_when_settled,
    as soon as no live hypothesis can still enter its n_best answer; the loop
    ends when every sentence is done.

    Args:
        step_fn, initial_state, start_tokens, end_id, max_length: as in greedy_search
            (max_length >= 1). The first step sees the batch's rows; the others
            batch * beam_width rows, sentence by sentence.
        beam_width: int32 scalar >= 1; 1 gives greedy search's output.
        n_best: int32 scalar, 1 <= n_best <= beam_width, hypotheses returned per sentence.
        alpha: float, the length penalty's exponent.
        drop_finished: sentences whose beams have all finished leave the batch,
            so later steps only compute the others. Needs every per-sentence
            tensor the step function reads to be in the state.
        fixed_keys: keys of a dict state whose tensors never change and are the
            same for every beam of a sentence (e.g. the encoder's outputs): they
            are not reordered by parent hypothesis at every step, only dropped
            with their sentence.
        stop_when_settled: stop a sentence once its n_best answer can no longer
            change (see `settled` inside): the answer is the same either way,
            only the hypotheses ranked below n_best may be left unfinished.

    Returns:
        dict with tokens int32 (batch, n_best, t) (0 after the end token),
        lengths int32 (batch, n_best) and scores float32 (batch, n_best), best first.
    """
    if fixed_keys:
        missing = set(fixed_keys) - set(initial_state) if isinstance(initial_state, dict) else set(fixed_keys)
        if missing:
            raise ValueError(f"fixed_keys {sorted(missing)} are not keys of the state (a dict is needed)")
    beam_width = tf.cast(beam_width, tf.int32)
    n_best = tf.cast(n_best, tf.int32)
    alpha = tf.cast(alpha, tf.float32)
    max_length = tf.cast(max_length, tf.int32)
    tf.debugging.assert_positive(max_length, message="max_length must be >= 1")
    batch_size = tf.shape(start_tokens)[0]

    def settled(log_probs, lengths, finished):
        """bool (active,): no live hypothesis can enter the sentence's n_best answer.

        A live hypothesis's log-probability only falls as it grows, and its
        length penalty is at most the larger of the penalties at its length now
        and at max_length, so log_prob / that penalty bounds every score it or
        its descendants can reach. When the n_best best finished hypotheses all
        score above every live bound, they are the answer.
        """
        largest_penalty = tf.maximum(length_penalty(lengths, alpha), length_penalty(max_length, alpha))
        best_live = tf.reduce_max(tf.where(finished, NEG_INF, log_probs / largest_penalty), axis=1)
        finished_scores = tf.where(finished, log_probs / length_penalty(lengths, alpha), 2 * NEG_INF)
        nth_best_finished = tf.math.top_k(finished_scores, k=n_best).values[:, -1]
        # Counted, not inferred from the scores: with a negative alpha a live
        # bound can fall below any stand-in score for "no finished hypothesis".
        enough_finished = tf.reduce_sum(tf.cast(finished, tf.int32), axis=1) >= n_best
        return enough_finished & (nth_best_finished > best_live)

    def and_settled(finished, log_probs, lengths):
        """finished bool (active, beam), with every beam of a settled sentence
        marked finished too when stop_when_settled."""
        if not stop_when_settled:
            return finished
        return tf.logical_or(finished, settled(log_probs, lengths, finished)[:, tf.newaxis])

    def drop_done(previous, state, sentences, finished):
        """Removes the sentences whose beams have all finished (finished: bool
        (active, beam)) from the rows the step function sees."""

        def drop():
            keep = tf.where(tf.logical_not(tf.reduce_all(finished, axis=1)))[:, 0]
            rows = tf.reshape(keep[:, tf.newaxis] * tf.cast(beam_width, tf.int64) + tf.range(beam_width, dtype=tf.int64), [-1])
            return (
                tf.gather(previous, rows),
                tf.nest.map_structure(lambda t: tf.gather(t, rows), state),
                tf.gather(sentences, keep),
            )

        # Gathering the state copies it, so only when a sentence has ended.
        sentence_done = tf.reduce_any(tf.reduce_all(finished, axis=1))
        return tf.cond(sentence_done, drop, lambda: (previous, state, sentences))

    # The first step runs on one row a sentence: every beam would start from the
    # same token and state, so the beams start as the beam_width best first
    # tokens, and only then is the state repeated per beam (batch * beam rows).
    logits, state = step_fn(tf.cast(start_tokens, tf.int32), initial_state)
    logits = tf.cast(logits, tf.float32)
    _, first_tokens = best_k(logits, beam_width)
    log_probs = log_probabilities(logits, first_tokens)
    lengths = tf.ones([batch_size, beam_width], tf.int32)
    finished = and_settled(tf.equal(first_tokens, end_id), log_probs, lengths)
    sequences = first_tokens[:, :, tf.newaxis]
    state = tf.nest.map_structure(lambda tensor: tf.repeat(tensor, beam_width, axis=0), state)
    previous = tf.reshape(first_tokens, [-1])
    # The sentences still decoding (rows of the whole batch); the step function
    # sees their beams only. Without drop_finished, all of them.
    sentences = tf.range(batch_size)
    if drop_finished:
        previous, state, sentences = drop_done(previous, state, sentences, finished)

    def keep_going(step, previous, state, sentences, log_probs, finished, lengths, sequences):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(step, previous, state, sentences, all_log_probs, all_finished, all_lengths, all_sequences):
        active = tf.shape(sentences)[0]
        index = sentences[:, tf.newaxis]
        if drop_finished:
            log_probs, finished = tf.gather(all_log_probs, sentences), tf.gather(all_finished, sentences)
            lengths, sequences = tf.gather(all_lengths, sentences), tf.gather(all_sequences, sentences)
        else:
            log_probs, finished, lengths, sequences = all_log_probs, all_finished, all_lengths, all_sequences

        logits, state = step_fn(previous, state)
        logits = tf.cast(logits, tf.float32)
        # Each beam's k best continuations contain the k best of the whole
        # (beam × vocab) grid, so the sort over vocab-sized rows happens per beam
        # and only k × k candidates per sentence are ranked together.
        _, best_tokens = best_k(logits, beam_width)
        step_log_probs = log_probabilities(logits, best_tokens)
        step_log_probs = tf.reshape(step_log_probs, [active, beam_width, beam_width])
        best_tokens = tf.reshape(best_tokens, [active, beam_width, beam_width])
        # A finished hypothesis has one continuation, padding (id 0), at no cost.
        first_only = tf.range(beam_width) == 0
        frozen_log_probs = tf.where(first_only, 0.0, NEG_INF)
        step_log_probs = tf.where(finished[:, :, tf.newaxis], frozen_log_probs, step_log_probs)
        best_tokens = tf.where(finished[:, :, tf.newaxis] & first_only, 0, best_tokens)
        candidate_log_probs = log_probs[:, :, tf.newaxis] + step_log_probs
        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        candidate_scores = candidate_log_probs / length_penalty(candidate_lengths, alpha)[:, :, tf.newaxis]
        flat_scores = tf.reshape(candidate_scores, [active, beam_width * beam_width])
        _, best = tf.math.top_k(flat_scores, k=beam_width)
        parent = best // beam_width
        token = tf.gather(tf.reshape(best_tokens, [active, -1]), best, batch_dims=1)

        log_probs = tf.gather(tf.reshape(candidate_log_probs, [active, -1]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, parent, batch_dims=1)
        was_finished = tf.gather(finished, parent, batch_dims=1)
        finished = and_settled(tf.logical_or(was_finished, tf.equal(token, end_id)), log_probs, lengths)
        sequences = tf.concat([tf.gather(sequences, parent, batch_dims=1), token[:, :, tf.newaxis]], axis=2)
        if drop_finished:
            all_log_probs = tf.tensor_scatter_nd_update(all_log_probs, index, log_probs)
            all_lengths = tf.tensor_scatter_nd_update(all_lengths, index, lengths)
            all_finished = tf.tensor_scatter_nd_update(all_finished, index, finished)
            all_sequences = tf.pad(all_sequences, [[0, 0], [0, 0], [0, 1]])
            all_sequences = tf.tensor_scatter_nd_update(all_sequences, index, sequences)
        else:
            all_log_probs, all_finished, all_lengths, all_sequences = log_probs, finished, lengths, sequences

        flat_parent = tf.reshape(parent + tf.range(active)[:, tf.newaxis] * beam_width, [-1])
        if isinstance(state, dict):
            state = {key: tensor if key in fixed_keys else tf.gather(tensor, flat_parent) for key, tensor in state.items()}
        else:
            state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, flat_parent), state)
        previous = tf.reshape(token, [-1])
        if drop_finished:
            previous, state, sentences = drop_done(previous, state, sentences, finished)
        return step + 1, previous, state, sentences, all_log_probs, all_finished, all_lengths, all_sequences

    _, _, _, _, log_probs, finished, lengths, sequences = tf.while_loop(
        keep_going,
        body,
        (tf.constant(1), previous, state, sentences, log_probs, finished, lengths, sequences),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None]),
            tf.nest.map_structure(_any_rows, state),
            tf.TensorShape([None]),
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
