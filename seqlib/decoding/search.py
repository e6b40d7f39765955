"""Decoding loops over a "next-token logits" step function: greedy, sampling, beam.

Nothing here knows about Keras models. A step function maps the previous tokens
and a state to next-token logits and a new state:

    step_fn(tokens: int32 (batch,), state) -> (logits: float (batch, vocab), state)

`state` is any nest (dict, tuple) of Tensors whose first axis is the batch. Greedy
search can also record something per step for plots (the attention weights):
with `record=True` its step function returns a third output,

    step_fn(tokens, state) -> (logits, state, record: float (batch, ...))

which is kept out of the state, so no loop gathers or reorders it. Each loop is a
`tf.while_loop`, so inside a `tf.function` it compiles to one graph with no Python
per step, stops early when every sentence has produced the end token, and works
for any batch size.
"""

from typing import NamedTuple

import tensorflow as tf

from seqlib.conventions import NEG_INF

# Scores are log(softmax(logits)[token]); probabilities below this are counted as
# this, so a hopeless candidate scores about -87 instead of -inf.
MIN_PROBABILITY = 1e-38
# top_k over vocabulary-sized rows goes through blocks of this many logits.
TOP_K_BLOCK = 128

# What a loop does with the sentences that have produced the end token (its `mode`):
KEEP_FINISHED = "keep_finished"  # they stay in the batch, masked, until every sentence ends
DROP_FINISHED = "drop_finished"  # they leave the batch, so later steps compute only the others
# They stay, and the loop's outputs have max_length steps whatever it took: XLA
# fixes every shape when it compiles, so it can neither shrink the batch nor trim.
FIXED_SHAPE = "fixed_shape"
MODES = (KEEP_FINISHED, DROP_FINISHED, FIXED_SHAPE)


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


def _check_mode(mode, allowed):
    """Refuses a mode that is not one of `allowed` (see MODES), naming the choices."""
    if mode not in allowed:
        raise ValueError(f"mode={mode!r}: choose one of {', '.join(map(repr, allowed))}")


def _call_step(step_fn, tokens, state, record):
    """step_fn(tokens, state) -> (logits float32, state, the step's record or None)."""
    if record:
        logits, state, step_record = step_fn(tokens, state)
    else:
        (logits, state), step_record = step_fn(tokens, state), None
    return tf.cast(logits, tf.float32), state, step_record


def _full_batch(values, rows, batch_size):
    """values (active, ...) of the rows still decoding -> (batch, ...), 0 for the others."""
    shape = tf.concat([[batch_size], tf.shape(values)[1:]], 0)
    return tf.scatter_nd(rows[:, tf.newaxis], values, shape)


def _drop_finished_rows(chosen, state, rows, finished):
    """Removes the rows whose sentence has ended (finished: bool (active,)) from the
    loop's per-row tensors; gathering copies the state, so only once one has ended."""

    def drop():
        keep = tf.where(tf.logical_not(finished))[:, 0]
        return (
            tf.gather(chosen, keep),
            tf.nest.map_structure(lambda tensor: tf.gather(tensor, keep), state),
            tf.gather(rows, keep),
            tf.gather(finished, keep),
        )

    return tf.cond(tf.reduce_any(finished), drop, lambda: (chosen, state, rows, finished))


def _batch_major(steps_array, steps, fixed_shape):
    """A TensorArray of per-step values (batch, ...) -> Tensor (batch, t, ...).

    Only the steps taken were written; reading the others is an error outside XLA,
    so without fixed_shape only those are read (t == steps).
    """
    stacked = steps_array.stack() if fixed_shape else steps_array.gather(tf.range(steps))
    return tf.transpose(stacked, tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], 0))


def _shrinking_rows(initial_state, totals_shape, record):
    """_run_loop's shape invariants when finished rows leave the loop: the rows still
    decoding shrink from step to step; the totals (scores, lengths) keep totals_shape."""
    any_rows, anything = tf.TensorShape([None]), tf.TensorShape(None)
    state_rows = tf.nest.map_structure(_any_rows, initial_state)
    return (
        tf.TensorShape([]),
        any_rows,
        state_rows,
        any_rows,
        any_rows,
        totals_shape,
        totals_shape,
        anything,
        anything if record else (),
    )


def _run_loop(step_fn, initial_state, start_tokens, end_id, max_length, choose, record=False, mode=KEEP_FINISHED):
    """The loop shared by greedy search and sampling.

    Args:
        choose: (logits (batch, vocab) float32, step int32 scalar) -> int32 (batch,).
        record: step_fn returns a third output (see the module docstring), stacked
            over the steps and returned as `records` (e.g. attention weights for plots).
        mode: KEEP_FINISHED, DROP_FINISHED or FIXED_SHAPE (see MODES). DROP_FINISHED
            needs every per-sentence tensor the step function reads to be in `state`
            (the loop gathers the rows it keeps).

    Returns:
        dict with tokens int32 (batch, t) (0 after the end token, which is kept),
        lengths int32 (batch,) (tokens including the end token), scores float32
        (batch,) (sum of the chosen tokens' log-probabilities), steps int32 (the
        steps taken; t == steps unless FIXED_SHAPE) and, with record, records
        float32 (batch, t, ...), zeros after a sentence's end.
    """
    _check_mode(mode, MODES)
    tf.debugging.assert_positive(max_length, message="max_length must be >= 1")
    drop = mode == DROP_FINISHED
    batch_size = tf.shape(start_tokens)[0]
    tokens = tf.TensorArray(tf.int32, size=max_length, element_shape=start_tokens.shape)
    records = tf.TensorArray(tf.float32, size=max_length) if record else ()
    scores = tf.zeros([batch_size], tf.float32)
    lengths = tf.zeros([batch_size], tf.int32)
    # The sentences still decoding, as rows of the full batch; unless they are
    # dropped, every row stays and `finished` marks the ones that are done.
    rows = tf.range(batch_size)
    finished = tf.zeros([batch_size], tf.bool)

    def keep_going(step, previous, state, rows, finished, scores, lengths, tokens, records):
        # At least one step, even for an empty batch: stacking no steps at all
        # fails (the buffers' element shapes are only known once written).
        going = tf.logical_or(tf.equal(step, 0), tf.logical_not(tf.reduce_all(finished)))
        return tf.logical_and(step < max_length, going)

    def body(step, previous, state, rows, finished, scores, lengths, tokens, records):
        logits, state, step_record = _call_step(step_fn, previous, state, record)
        chosen = tf.cast(choose(logits, step), tf.int32)
        # When finished rows are dropped none is finished here, so these masks
        # change nothing; they matter when every row stays.
        chosen = tf.where(finished, tf.zeros_like(chosen), chosen)
        chosen_log_prob = tf.where(finished, 0.0, log_probabilities(logits, chosen))
        growing = tf.cast(tf.logical_not(finished), tf.int32)
        if drop:
            scores = tf.tensor_scatter_nd_add(scores, rows[:, tf.newaxis], chosen_log_prob)
            lengths = tf.tensor_scatter_nd_add(lengths, rows[:, tf.newaxis], growing)
        else:
            scores, lengths = scores + chosen_log_prob, lengths + growing
        tokens = tokens.write(step, _full_batch(chosen, rows, batch_size) if drop else chosen)
        if record:
            step_record = tf.cast(step_record, tf.float32)
            # Steps after a sentence's end record nothing (zeros), whichever rows are kept.
            step_record = tf.where(tf.reshape(finished, [-1] + [1] * (step_record.shape.rank - 1)), 0.0, step_record)
            records = records.write(step, _full_batch(step_record, rows, batch_size) if drop else step_record)
        finished = tf.logical_or(finished, tf.equal(chosen, end_id))
        if drop:
            chosen, state, rows, finished = _drop_finished_rows(chosen, state, rows, finished)
        return step + 1, chosen, state, rows, finished, scores, lengths, tokens, records

    loop_vars = (tf.constant(0), tf.cast(start_tokens, tf.int32), initial_state, rows, finished, scores, lengths, tokens, records)
    options = {"shape_invariants": _shrinking_rows(initial_state, scores.shape, record)} if drop else {}
    steps, _, _, _, _, scores, lengths, tokens, records = tf.while_loop(keep_going, body, loop_vars, **options)
    fixed_shape = mode == FIXED_SHAPE
    result = {"tokens": _batch_major(tokens, steps, fixed_shape), "lengths": lengths, "scores": scores, "steps": steps}
    if record:
        result["records"] = _batch_major(records, steps, fixed_shape)
    return result


def greedy_search(step_fn, initial_state, start_tokens, end_id, max_length, record=False, mode=KEEP_FINISHED):
    """Always takes the most probable next token.

    Args:
        step_fn: see the module docstring.
        initial_state: nest of Tensors (batch, ...).
        start_tokens: int32 (batch,), the start ("GO") token of each sentence.
        end_id: int, the end token; a sentence stops growing once it is produced.
        max_length: int32 scalar >= 1, the most tokens generated (end token included).
        record, mode: see `_run_loop`.

    Returns:
        See `_run_loop`.
    """
    return _run_loop(
        step_fn, initial_state, start_tokens, end_id, max_length, lambda logits, step: tf.argmax(logits, axis=-1), record, mode
    )


def sample(step_fn, initial_state, start_tokens, end_id, max_length, temperature=1.0, top_k=0, seed=0, mode=KEEP_FINISHED):
    """Draws each next token from the softmax of logits / temperature.

    Args:
        temperature: float > 0; small values approach greedy search, large ones
            flatten the distribution.
        top_k: int; if > 0, only the k most probable tokens can be drawn.
        seed: int; the same seed gives the same samples (stateless random ops)
            for the same mode.
        mode: see `_run_loop`. The random numbers are drawn per row of the running
            batch, so dropping finished rows gives other (equally valid) samples.

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

    return _run_loop(step_fn, initial_state, start_tokens, end_id, max_length, choose, mode=mode)


def length_penalty(lengths, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 turns it off."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


class _Hypotheses(NamedTuple):
    """Each sentence's beams, best first; the first axis is the sentences (all of
    them, or only those still decoding)."""

    log_probs: tf.Tensor  # float32 (sentences, beam), summed log-probabilities
    finished: tf.Tensor  # bool (sentences, beam): ended (or settled, see _BeamSearch.settle)
    lengths: tf.Tensor  # int32 (sentences, beam), tokens including the end token
    tokens: tf.Tensor  # int32 (sentences, beam, t), 0 after the end token


def beam_search(
    step_fn,
    initial_state,
    start_tokens,
    end_id,
    max_length,
    beam_width,
    n_best=1,
    alpha=0.0,
    mode=KEEP_FINISHED,
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
        mode: KEEP_FINISHED or DROP_FINISHED (see MODES): with DROP_FINISHED the
            sentences whose beams have all finished leave the batch, so later steps
            only compute the others. Needs every per-sentence tensor the step
            function reads to be in the state.
        fixed_keys: keys of a dict state whose tensors never change and are the
            same for every beam of a sentence (e.g. the encoder's outputs): they
            are not reordered by parent hypothesis at every step, only dropped
            with their sentence.
        stop_when_settled: stop a sentence once its n_best answer can no longer
            change (see `_BeamSearch.settled`): the answer is the same either way,
            only the hypotheses ranked below n_best may be left unfinished.

    Returns:
        dict with tokens int32 (batch, n_best, t) (0 after the end token),
        lengths int32 (batch, n_best) and scores float32 (batch, n_best), best first.
    """
    _check_mode(mode, (KEEP_FINISHED, DROP_FINISHED))
    if fixed_keys:
        missing = set(fixed_keys) - set(initial_state) if isinstance(initial_state, dict) else set(fixed_keys)
        if missing:
            raise ValueError(f"fixed_keys {sorted(missing)} are not keys of the state (a dict is needed)")
    search = _BeamSearch(step_fn, end_id, max_length, beam_width, n_best, alpha, mode, fixed_keys, stop_when_settled)
    return search.run(initial_state, start_tokens)


class _BeamSearch:
    """beam_search's pieces, sharing its arguments (see beam_search for their meaning).

    The loop carries the tokens fed to the next step (`previous`, int32 (rows,),
    rows = active sentences × beam), the step function's state (rows, ...), the
    sentences still decoding (`sentences`, int32 (active,), rows of the whole
    batch) and the hypotheses of the whole batch.
    """

    def __init__(self, step_fn, end_id, max_length, beam_width, n_best, alpha, mode, fixed_keys, stop_when_settled):
        self.step_fn = step_fn
        self.end_id = end_id
        self.beam_width = tf.cast(beam_width, tf.int32)
        self.n_best = tf.cast(n_best, tf.int32)
        self.alpha = tf.cast(alpha, tf.float32)
        self.max_length = tf.cast(max_length, tf.int32)
        tf.debugging.assert_positive(self.max_length, message="max_length must be >= 1")
        self.drop_finished_sentences = mode == DROP_FINISHED
        self.fixed_keys = fixed_keys
        self.stop_when_settled = stop_when_settled

    def run(self, initial_state, start_tokens):
        """The whole search: see beam_search."""

        def keep_going(step, previous, state, sentences, hypotheses):
            return tf.logical_and(step < self.max_length, tf.logical_not(tf.reduce_all(hypotheses.finished)))

        previous, state, sentences, hypotheses = self.first_step(initial_state, start_tokens)
        matrix, any_rows = tf.TensorShape([None, None]), tf.TensorShape([None])
        _, _, _, _, hypotheses = tf.while_loop(
            keep_going,
            self.next_step,
            (tf.constant(1), previous, state, sentences, hypotheses),
            shape_invariants=(
                tf.TensorShape([]),
                any_rows,
                tf.nest.map_structure(_any_rows, state),
                any_rows,
                _Hypotheses(matrix, matrix, matrix, tf.TensorShape([None, None, None])),
            ),
        )
        # top_k returned the beams best first, so the first n_best are the answer.
        return {
            "tokens": hypotheses.tokens[:, : self.n_best],
            "lengths": hypotheses.lengths[:, : self.n_best],
            "scores": (hypotheses.log_probs / length_penalty(hypotheses.lengths, self.alpha))[:, : self.n_best],
        }

    def first_step(self, initial_state, start_tokens):
        """Runs the first step on one row a sentence: every beam would start from the
        same token and state, so the beams start as the beam_width best first tokens,
        and only then is the state repeated per beam (batch * beam rows).

        Returns the loop's first (previous, state, sentences, hypotheses).
        """
        batch_size = tf.shape(start_tokens)[0]
        logits, state = self.step_fn(tf.cast(start_tokens, tf.int32), initial_state)
        logits = tf.cast(logits, tf.float32)
        _, first_tokens = best_k(logits, self.beam_width)
        log_probs = log_probabilities(logits, first_tokens)
        lengths = tf.ones([batch_size, self.beam_width], tf.int32)
        hypotheses = self.settle(
            _Hypotheses(log_probs, tf.equal(first_tokens, self.end_id), lengths, first_tokens[:, :, tf.newaxis])
        )
        state = tf.nest.map_structure(lambda tensor: tf.repeat(tensor, self.beam_width, axis=0), state)
        previous = tf.reshape(first_tokens, [-1])
        # Unless finished sentences are dropped, every sentence stays to the end.
        sentences = tf.range(batch_size)
        if self.drop_finished_sentences:
            previous, state, sentences = self.drop_finished(previous, state, sentences, hypotheses.finished)
        return previous, state, sentences, hypotheses

    def next_step(self, step, previous, state, sentences, all_hypotheses):
        """One step of the loop: every active beam grows by one token (or stays frozen)."""
        active = tf.shape(sentences)[0]
        hypotheses = all_hypotheses
        if self.drop_finished_sentences:
            hypotheses = tf.nest.map_structure(lambda tensor: tf.gather(tensor, sentences), all_hypotheses)
        logits, state = self.step_fn(previous, state)
        parent, token, hypotheses = self.select_candidates(tf.cast(logits, tf.float32), hypotheses, active)
        if self.drop_finished_sentences:
            all_hypotheses = self.scatter_back(all_hypotheses, sentences, hypotheses)
        else:
            all_hypotheses = hypotheses
        state = self.reorder_state(state, parent, active)
        previous = tf.reshape(token, [-1])
        if self.drop_finished_sentences:
            previous, state, sentences = self.drop_finished(previous, state, sentences, hypotheses.finished)
        return step + 1, previous, state, sentences, all_hypotheses

    def select_candidates(self, logits, hypotheses, active):
        """The beam_width best continuations of each sentence's hypotheses.

        Args:
            logits: float32 (active * beam, vocab), the next-token logits of each beam.
            hypotheses: _Hypotheses of the active sentences.
            active: int32 scalar, how many sentences.

        Returns:
            parent int32 (active, beam), the beam each new hypothesis continues;
            token int32 (active, beam), its new token; the new _Hypotheses.
        """
        beam_width = self.beam_width
        # Each beam's k best continuations contain the k best of the whole
        # (beam × vocab) grid, so the sort over vocab-sized rows happens per beam
        # and only k × k candidates per sentence are ranked together.
        _, best_tokens = best_k(logits, beam_width)
        step_log_probs = log_probabilities(logits, best_tokens)
        step_log_probs = tf.reshape(step_log_probs, [active, beam_width, beam_width])
        best_tokens = tf.reshape(best_tokens, [active, beam_width, beam_width])
        # A finished hypothesis has one continuation, padding (id 0), at no cost.
        finished = hypotheses.finished[:, :, tf.newaxis]
        first_only = tf.range(beam_width) == 0
        step_log_probs = tf.where(finished, tf.where(first_only, 0.0, NEG_INF), step_log_probs)
        best_tokens = tf.where(finished & first_only, 0, best_tokens)
        candidate_log_probs = hypotheses.log_probs[:, :, tf.newaxis] + step_log_probs
        candidate_lengths = hypotheses.lengths + tf.cast(tf.logical_not(hypotheses.finished), tf.int32)
        candidate_scores = candidate_log_probs / length_penalty(candidate_lengths, self.alpha)[:, :, tf.newaxis]
        _, best = tf.math.top_k(tf.reshape(candidate_scores, [active, beam_width * beam_width]), k=beam_width)
        parent = best // beam_width
        token = tf.gather(tf.reshape(best_tokens, [active, -1]), best, batch_dims=1)
        grown = _Hypotheses(
            log_probs=tf.gather(tf.reshape(candidate_log_probs, [active, -1]), best, batch_dims=1),
            finished=tf.logical_or(tf.gather(hypotheses.finished, parent, batch_dims=1), tf.equal(token, self.end_id)),
            lengths=tf.gather(candidate_lengths, parent, batch_dims=1),
            tokens=tf.concat([tf.gather(hypotheses.tokens, parent, batch_dims=1), token[:, :, tf.newaxis]], axis=2),
        )
        return parent, token, self.settle(grown)

    def settle(self, hypotheses):
        """hypotheses with every beam of a settled sentence marked finished, when stop_when_settled."""
        if not self.stop_when_settled:
            return hypotheses
        return hypotheses._replace(finished=tf.logical_or(hypotheses.finished, self.settled(hypotheses)[:, tf.newaxis]))

    def settled(self, hypotheses):
        """bool (sentences,): no live hypothesis can enter the sentence's n_best answer.

        A live hypothesis's log-probability only falls as it grows, and its
        length penalty is at most the larger of the penalties at its length now
        and at max_length, so log_prob / that penalty bounds every score it or
        its descendants can reach. When the n_best best finished hypotheses all
        score above every live bound, they are the answer.
        """
        log_probs, finished, lengths, _ = hypotheses
        largest_penalty = tf.maximum(length_penalty(lengths, self.alpha), length_penalty(self.max_length, self.alpha))
        best_live = tf.reduce_max(tf.where(finished, NEG_INF, log_probs / largest_penalty), axis=1)
        finished_scores = tf.where(finished, log_probs / length_penalty(lengths, self.alpha), 2 * NEG_INF)
        nth_best_finished = tf.math.top_k(finished_scores, k=self.n_best).values[:, -1]
        # Counted, not inferred from the scores: with a negative alpha a live
        # bound can fall below any stand-in score for "no finished hypothesis".
        enough_finished = tf.reduce_sum(tf.cast(finished, tf.int32), axis=1) >= self.n_best
        return enough_finished & (nth_best_finished > best_live)

    def scatter_back(self, all_hypotheses, sentences, hypotheses):
        """Writes the active sentences' hypotheses into those of the whole batch,
        whose tokens grow by one column (0 for the sentences already done)."""
        index = sentences[:, tf.newaxis]
        return _Hypotheses(
            log_probs=tf.tensor_scatter_nd_update(all_hypotheses.log_probs, index, hypotheses.log_probs),
            finished=tf.tensor_scatter_nd_update(all_hypotheses.finished, index, hypotheses.finished),
            lengths=tf.tensor_scatter_nd_update(all_hypotheses.lengths, index, hypotheses.lengths),
            tokens=tf.tensor_scatter_nd_update(tf.pad(all_hypotheses.tokens, [[0, 0], [0, 0], [0, 1]]), index, hypotheses.tokens),
        )

    def reorder_state(self, state, parent, active):
        """Each new hypothesis takes its parent's state (parent int32 (active, beam));
        the fixed keys are the same for every beam of a sentence and stay put."""
        flat_parent = tf.reshape(parent + tf.range(active)[:, tf.newaxis] * self.beam_width, [-1])
        if isinstance(state, dict):
            return {key: tensor if key in self.fixed_keys else tf.gather(tensor, flat_parent) for key, tensor in state.items()}
        return tf.nest.map_structure(lambda tensor: tf.gather(tensor, flat_parent), state)

    def drop_finished(self, previous, state, sentences, finished):
        """Removes the sentences whose beams have all finished (finished: bool
        (active, beam)) from the rows the step function sees."""

        def drop():
            keep = tf.where(tf.logical_not(tf.reduce_all(finished, axis=1)))[:, 0]
            rows = tf.reshape(
                keep[:, tf.newaxis] * tf.cast(self.beam_width, tf.int64) + tf.range(self.beam_width, dtype=tf.int64), [-1]
            )
            return (
                tf.gather(previous, rows),
                tf.nest.map_structure(lambda t: tf.gather(t, rows), state),
                tf.gather(sentences, keep),
            )

        # Gathering the state copies it, so only when a sentence has ended.
        sentence_done = tf.reduce_any(tf.reduce_all(finished, axis=1))
        return tf.cond(sentence_done, drop, lambda: (previous, state, sentences))
