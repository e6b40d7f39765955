"""Lab 4's graders, greedy and beam search: `greedy_step`, `greedy_search`,
`beam_top_k` and `beam_search`, each on scripted step functions whose logits are
known, and the searches also on the learner's trained translator when given one."""

import numpy as np

from seqlib.conventions import END_ID, NEG_INF, START_ID
from seqlib.course.check.inputs import SEED, log_softmax
from seqlib.course.check.report import call, close, describe, expect_shape, fail, named, passed, show, to_numpy, unpack


class _ScriptedStep:
    """A step function with known logits: row `token` of a fixed table plus the
    state's bias; it counts its calls and halves the bias each step."""

    def __init__(self, rng, vocab_size):
        import tensorflow as tf

        self.table = tf.constant(rng.normal(size=(vocab_size, vocab_size)).astype(np.float32) * 3)
        self.calls = 0

    def __call__(self, tokens, state):
        import tensorflow as tf

        self.calls += 1
        logits = tf.gather(self.table, tokens) + state["bias"]
        return logits, {"bias": state["bias"] * 0.5}


def greedy_step(greedy_step_fn):
    """Checks greedy_step_fn(step_fn, tokens int32 (batch,), state) ->
    (next_tokens int (batch,), log_probs float (batch,), new_state)."""
    import tensorflow as tf

    exercise = "greedy_step"
    returns = "a tuple (next_tokens int (batch,), log_probs float (batch,), new_state)"
    rng = np.random.default_rng(SEED + 4)
    for batch_size, vocab_size in ((3, 9), (1, 5), (4, 17)):
        step = _ScriptedStep(rng, vocab_size)
        tokens = tf.constant(rng.integers(0, vocab_size, size=batch_size).astype(np.int32))
        bias = tf.constant(rng.normal(size=(batch_size, vocab_size)).astype(np.float32))
        state = {"bias": bias}
        expected_logits, expected_state = _ScriptedStep.__call__(step, tokens, state)
        step.calls = 0  # the reference call above is not the learner's
        expected_logits = expected_logits.numpy()
        described = (
            f"batch={batch_size}, vocab={vocab_size}, tokens={show(tokens)}, a scripted step_fn whose logits are\n"
            f"{show(expected_logits)}"
        )
        result = call(exercise, greedy_step_fn, (step, tokens, state), described, returns)
        result = unpack(exercise, result, ("next_tokens", "log_probs", "new_state"), described)
        if step.calls != 1:
            fail(exercise, "call step_fn exactly once per step.", described, "1 call of step_fn", f"{step.calls} calls")
        next_tokens = to_numpy(exercise, result[0], "next_tokens", described, returns)
        log_probs = to_numpy(exercise, result[1], "log_probs", described, returns)
        expected_tokens = expected_logits.argmax(axis=-1)
        expected_log_probs = log_softmax(expected_logits)[np.arange(batch_size), expected_tokens]
        expect_shape(
            exercise, "next_tokens", next_tokens, (batch_size,), described, "take the argmax over the vocabulary, axis -1"
        )
        if not np.array_equal(next_tokens, expected_tokens):
            fail(
                exercise,
                "next_tokens should be the most probable token of each row (argmax over axis -1).",
                described,
                f"next_tokens = {show(expected_tokens)}",
                f"next_tokens = {show(next_tokens)}",
            )
        expect_shape(exercise, "log_probs", log_probs, (batch_size,), described)
        if not close(log_probs, expected_log_probs):
            chosen_logits = expected_logits[np.arange(batch_size), expected_tokens]
            if close(log_probs, np.exp(expected_log_probs)):
                hint = "you returned probabilities; return log-probabilities (tf.nn.log_softmax), which search adds up."
            elif close(log_probs, chosen_logits):
                hint = "you returned raw logits; normalise them with tf.nn.log_softmax first."
            else:
                hint = "log_probs should be log_softmax(logits) at the chosen tokens."
            fail(exercise, hint, described, f"log_probs = {show(expected_log_probs)}", f"log_probs = {show(log_probs)}")
        new_state = result[2]
        expected_bias = expected_state["bias"].numpy()
        if not isinstance(new_state, dict) or "bias" not in new_state:
            fail(
                exercise,
                "return the state that step_fn gave back, so the next step continues from it.",
                described,
                f"new_state = {{'bias': {show(expected_bias)}}}",
                describe(new_state),
            )
        got_bias = to_numpy(exercise, new_state["bias"], "new_state['bias']", described, returns)
        if not close(got_bias, expected_bias):
            fail(
                exercise,
                "return the state that step_fn gave back, so the next step continues from it.",
                described,
                f"new_state['bias'] =\n{show(expected_bias)}",
                f"new_state['bias'] =\n{show(got_bias)}",
            )
    passed(exercise, "picks the argmax token with its log-probability and carries the state, on unseen steps")


def _reference_top_k(scores, beam_width):
    batch_size, beams, vocab_size = scores.shape
    flat = scores.reshape(batch_size, beams * vocab_size)
    best = np.argsort(-flat, axis=-1, kind="stable")[:, :beam_width]
    return np.take_along_axis(flat, best, axis=-1), best // vocab_size, best % vocab_size


def beam_top_k(top_k_fn):
    """Checks top_k_fn(candidate_scores float (batch, beam, vocab), beam_width) ->
    (scores (batch, beam_width), parent (batch, beam_width), token (batch, beam_width)), best first."""
    import tensorflow as tf

    exercise = "beam_top_k"
    returns = "a tuple (scores, parent, token), each (batch, beam_width), best first"
    rng = np.random.default_rng(SEED + 5)
    for batch_size, beam_width, vocab_size, strong_beam in ((2, 3, 7, True), (1, 4, 5, True), (3, 2, 11, True), (3, 3, 6, False)):
        # Distinct scores, so there are no ties. With a strong beam (a different one in
        # each sentence, never always the first), two of the best candidates share a
        # parent, so a per-beam top-1 goes wrong; without one, the best candidates come
        # from several beams, so searching one beam alone goes wrong.
        scores = (
            -rng.permutation(batch_size * beam_width * vocab_size).astype(np.float32).reshape(batch_size, beam_width, vocab_size)
            / 10
        )
        if strong_beam:
            strong = rng.permutation(np.arange(batch_size) % beam_width + 1) % beam_width
            scores[np.arange(batch_size), strong, :] += 100.0
        described = f"beam_width={beam_width}, vocab={vocab_size}, candidate_scores of shape {scores.shape} =\n{show(scores)}"
        result = call(exercise, top_k_fn, (tf.constant(scores), beam_width), described, returns)
        result = unpack(exercise, result, ("scores", "parent", "token"), described)
        got_scores, got_parent, got_token = (
            to_numpy(exercise, value, name, described, returns) for value, name in zip(result, ("scores", "parent", "token"))
        )
        want_scores, want_parent, want_token = _reference_top_k(scores, beam_width)
        for name, got in (("scores", got_scores), ("parent", got_parent), ("token", got_token)):
            expect_shape(exercise, name, got, (batch_size, beam_width), described)
        if not close(got_scores, want_scores):
            per_beam = np.sort(scores.max(axis=-1), axis=-1)[:, ::-1]
            if close(np.sort(got_scores, axis=-1)[:, ::-1], want_scores):
                hint = "the right candidates, in the wrong order: return them best first."
            elif close(np.sort(got_scores, axis=-1)[:, ::-1], -np.sort(-scores[:, 0, :], axis=-1)[:, :beam_width]):
                hint = "you searched the first beam only; every beam's candidates compete (flatten beam × vocab first)."
            elif close(np.sort(got_scores, axis=-1)[:, ::-1], per_beam):
                hint = (
                    "you kept the best token of each beam; flatten (beam × vocab) into one axis first, so that two "
                    "children of one strong beam can both survive."
                )
            else:
                hint = "take the top beam_width of all beam × vocab candidates of each sentence."
            fail(exercise, hint, described, f"scores =\n{show(want_scores)}", f"scores =\n{show(got_scores)}")
        if not (np.array_equal(got_parent, want_parent) and np.array_equal(got_token, want_token)):
            fail(
                exercise,
                "the scores are right but parent/token are not: for a flat index i over (beam × vocab), "
                "parent = i // vocab_size and token = i % vocab_size.",
                described,
                named(parent=want_parent, token=want_token),
                named(parent=got_parent, token=got_token),
            )
    passed(exercise, "selects the best (parent, token) pairs over beam × vocab, best first, on unseen scores")


class _CountdownStep:
    """A step function whose rows end on cue: logits are row `token` of a fixed table,
    except that end_id wins exactly when a row's counter reaches its `finish_at` (and
    never before), and padding never wins. State: {"step": int32 (batch,), "finish_at":
    int32 (batch,)}; each call adds 1 to "step", so a loop that drops the returned
    state never ends a row."""

    def __init__(self, rng, vocab_size):
        import tensorflow as tf

        table = rng.normal(size=(vocab_size, vocab_size)).astype(np.float32) * 3
        table[:, 0] = NEG_INF  # padding is never generated
        table[:, END_ID] = -50.0
        self.table = tf.constant(table)

    def __call__(self, tokens, state):
        import tensorflow as tf

        step = state["step"] + 1
        ends = tf.one_hot(END_ID, self.table.shape[1]) * 100.0
        logits = tf.gather(self.table, tokens) + tf.where((step == state["finish_at"])[:, None], ends, 0.0)
        return logits, {**state, "step": step}


def _python_greedy(step_fn, state, start_tokens, end_id, max_length, mistake=None):
    """Greedy search in plain Python, right (mistake=None) or with one typical mistake:
    "no_padding", "first_end_stops", "runs_to_max_length", "drops_end", "no_feedback",
    "state_not_carried". Returns int array (batch, steps)."""
    import tensorflow as tf

    previous = np.asarray(start_tokens)
    finished = np.zeros(len(previous), bool)
    columns, step_state = [], state
    for _ in range(max_length):
        logits, new_state = step_fn(tf.constant(previous, tf.int32), step_state)
        chosen = np.asarray(logits).argmax(axis=-1).astype(np.int32)
        if mistake != "no_padding":
            chosen = np.where(finished, 0, chosen)
        columns.append(np.where(chosen == end_id, 0, chosen) if mistake == "drops_end" else chosen)
        finished |= chosen == end_id
        previous = np.asarray(start_tokens) if mistake == "no_feedback" else chosen
        step_state = state if mistake == "state_not_carried" else new_state
        if (mistake == "first_end_stops" and finished.any()) or (mistake != "runs_to_max_length" and finished.all()):
            break
    return np.stack(columns, axis=1)


_GREEDY_MISTAKES = {
    "no_padding": "a row goes on after its end_id: keep a `finished` mask and write 0 (padding) for rows that have finished.",
    "first_end_stops": "you stopped when the first row finished; go on until every row has produced end_id (or max_length).",
    "runs_to_max_length": "stop as soon as every row has produced end_id: the steps after that add only padding.",
    "drops_end": "keep end_id in the output: it marks where each sentence ends (only the steps after it are 0).",
    "no_feedback": "feed each step's chosen tokens back in as the next step's `tokens`.",
    "state_not_carried": "pass the state that step_fn returned to the next call; the first state is only the start.",
}


def _greedy_hint(got, step_fn, state, start_tokens, end_id, max_length, fallback):
    for mistake, hint in _GREEDY_MISTAKES.items():
        variant = _python_greedy(step_fn, state, start_tokens, end_id, max_length, mistake)
        if variant.shape == got.shape and np.array_equal(variant, got):
            return hint
    return fallback


def greedy_search(search_fn, translator=None):
    """Checks search_fn(step_fn, state, start_tokens, end_id, max_length) -> int (batch, steps):
    batched greedy decoding that stops when every row has produced end_id (or after
    max_length steps), keeps end_id and pads finished rows with 0, as
    seqlib.decoding.search.greedy_search does; on scripted step functions, then on `translator`'s
    model when one is given."""
    import tensorflow as tf

    from seqlib.decoding.search import greedy_search as reference

    exercise = "greedy_search"
    returns = "an int Tensor (batch, steps): the chosen tokens, end_id kept, 0 after it"
    rng = np.random.default_rng(SEED + 10)
    cases = [((2, 5, 3), 8, 9), ((4, 99), 6, 7), ((1,), 5, 6), ((3, 1, 6, 2), 9, 11)]
    if translator is not None:
        cases.append((None, 12, None))
    for finish_at, max_length, vocab_size in cases:
        if finish_at is None:
            sentences = ["I am cold.", "Where is the station?", "Go."]
            context = translator.vectorize(tf.constant(sentences))
            step_fn, state = translator.step, translator.encode(context)
            described = f"your trained translator's step and encode, sentences {sentences}, max_length={max_length}"
        else:
            step_fn = _CountdownStep(rng, vocab_size)
            state = {"step": tf.zeros([len(finish_at)], tf.int32), "finish_at": tf.constant(finish_at, tf.int32)}
            described = (
                f"end_id={END_ID}, max_length={max_length}, a scripted step_fn over {vocab_size} tokens whose rows "
                f"produce end_id at steps {list(finish_at)} (99: never)"
            )
        start_tokens = tf.fill([len(state["context" if finish_at is None else "finish_at"])], START_ID)
        expected = reference(step_fn, state, start_tokens, END_ID, max_length)["tokens"].numpy()
        result = call(exercise, search_fn, (step_fn, state, start_tokens, END_ID, max_length), described, returns)
        got = to_numpy(exercise, result, "the tokens", described, returns)
        if got.shape == expected.shape and np.array_equal(got, expected):
            continue
        fallback = "greedy search takes the argmax at every step and feeds it back, for every row, until all rows have ended."
        hint = _greedy_hint(got, step_fn, state, start_tokens, END_ID, max_length, fallback)
        fail(exercise, hint, described, f"tokens =\n{show(expected)}", f"tokens =\n{show(got)}")
    where = " and on your trained model" if translator is not None else ""
    passed(exercise, f"matches seqlib.decoding.search.greedy_search on unseen scripted steps{where}")


class _RecurrentStep:
    """A small random recurrent step function: the logits depend on the whole prefix
    through the state {"hidden": float (rows, 8), "step": int32 (rows,)}, end_id grows
    likelier with every step, and padding never wins."""

    def __init__(self, rng, vocab_size, end_growth):
        import tensorflow as tf

        self.embedding = tf.constant(rng.normal(size=(vocab_size, 8)).astype(np.float32))
        self.recurrent = tf.constant(rng.normal(size=(8, 8)).astype(np.float32) / 2)
        self.output = tf.constant(rng.normal(size=(8, vocab_size)).astype(np.float32))
        bias = np.zeros(vocab_size, np.float32)
        bias[0] = NEG_INF
        bias[END_ID] = -3.0
        self.bias, self.end_growth = tf.constant(bias), end_growth
        self.end = tf.one_hot(END_ID, vocab_size)

    def __call__(self, tokens, state):
        import tensorflow as tf

        hidden = tf.tanh(tf.gather(self.embedding, tokens) + state["hidden"] @ self.recurrent)
        step = state["step"] + 1
        growth = self.end_growth * tf.cast(step, tf.float32)[:, None] * self.end
        return hidden @ self.output + self.bias + growth, {"hidden": hidden, "step": step}


def _python_beam(step_fn, state, start_tokens, end_id, max_length, beam_width, alpha, mistake=None):
    """Beam search over one sentence in plain Python, right (mistake=None) or with one
    typical mistake: "one_child_per_beam", "not_frozen", "no_penalty_while_searching",
    "state_not_reordered". Returns (best tokens: list of int, its score)."""
    import tensorflow as tf

    def penalty(lengths):
        return ((5.0 + lengths) / 6.0) ** alpha

    hypotheses, log_probs = [[]], np.zeros(1)
    lengths, finished = np.zeros(1), np.zeros(1, bool)
    previous = np.asarray(start_tokens, np.int32)
    for _ in range(max_length):
        logits, new_state = step_fn(tf.constant(previous, tf.int32), state)
        step_log_probs = log_softmax(np.asarray(logits, np.float64))
        if mistake != "not_frozen":
            # A finished hypothesis has one continuation, padding, at no cost.
            step_log_probs[finished] = -np.inf
            step_log_probs[finished, 0] = 0.0
        candidate_log_probs = log_probs[:, None] + step_log_probs
        # A frozen hypothesis does not grow; without freezing, every one does.
        growth = 1 if mistake == "not_frozen" else ~finished
        candidate_lengths = np.broadcast_to((lengths + growth)[:, None], candidate_log_probs.shape)
        ranking = (
            candidate_log_probs if mistake == "no_penalty_while_searching" else candidate_log_probs / penalty(candidate_lengths)
        )
        if mistake == "one_child_per_beam" and len(hypotheses) > 1:
            tokens = ranking.argmax(axis=-1)
            order = np.argsort(-ranking[np.arange(len(tokens)), tokens], kind="stable")
            parents, tokens = order, tokens[order]
        else:
            best = np.argsort(-ranking.reshape(-1), kind="stable")[:beam_width]
            parents, tokens = best // ranking.shape[1], best % ranking.shape[1]
        hypotheses = [hypotheses[parent] + [int(token)] for parent, token in zip(parents, tokens)]
        log_probs = candidate_log_probs[parents, tokens]
        lengths = candidate_lengths[parents, tokens]
        if mistake == "not_frozen":  # it stops only when every hypothesis holds an end_id somewhere
            finished = np.array([end_id in hypothesis for hypothesis in hypotheses])
        else:
            finished = finished[parents] | (tokens == end_id)
        rows = np.arange(len(parents)) % len(previous) if mistake == "state_not_reordered" else parents
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), new_state)
        previous = tokens.astype(np.int32)
        if finished.all():
            break
    scores = log_probs / penalty(lengths)
    best = int(np.argmax(scores))
    return [token for token in hypotheses[best] if token != 0], float(scores[best])


_BEAM_MISTAKES = {
    "one_child_per_beam": (
        "each hypothesis kept only its own best word: rank all beam × vocab candidates together (the top-k exercise), "
        "so that two children of one strong hypothesis can both survive."
    ),
    "not_frozen": (
        "a hypothesis went on after end_id: a finished hypothesis must stay as it is, extended only by padding (token 0) "
        "at no cost, so its score and length do not change."
    ),
    "no_penalty_while_searching": (
        "rank the candidates at every step by log-probability / length_penalty(length, alpha), not only at the end: "
        "the penalty decides which hypotheses survive."
    ),
    "state_not_reordered": (
        "each survivor must continue from its parent's state: gather the rows of the state step_fn returned by `parent`."
    ),
}


def beam_search(search_fn, translator=None):
    """Checks search_fn(step_fn, state, start_tokens, end_id, max_length, beam_width, alpha)
    -> (tokens: list of int, score: float) for one sentence (state and start_tokens have
    one row): the best hypothesis (end_id kept, no padding) and its score
    log-probability / length_penalty(length, alpha), as seqlib.decoding.search.beam_search finds
    it; on scripted step functions, then on `translator`'s model when one is given."""
    import tensorflow as tf

    from seqlib.decoding.search import beam_search as reference

    exercise = "beam_search"
    returns = "a tuple (tokens: a list of int ids, end_id included; score: a float)"
    # (seed of the scripted step, vocab, beam_width, alpha, max_length, how fast end_id grows likelier):
    # chosen so that each mistake in _BEAM_MISTAKES changes the answer of at least one case.
    cases = [
        (63, 8, 3, 3.0, 9, 1.0),
        (269, 10, 2, 2.0, 7, 0.3),
        (0, 10, 4, 1.0, 6, 0.6),
        (5, 9, 5, 0.0, 9, 0.6),
        (4, 9, 5, 2.0, 7, 1.5),
    ]
    if translator is not None:
        cases += [(None, None, 4, 0.6, 12, "I am cold."), (None, None, 3, 0.0, 12, "Where is the station?")]
    for seed, vocab_size, beam_width, alpha, max_length, extra in cases:
        if seed is None:
            step_fn, state = translator.step, translator.encode(translator.vectorize(tf.constant([extra])))
            described = f"your trained translator's step and encode, sentence {extra!r}"
        else:
            rng = np.random.default_rng(SEED + 100 + seed)
            step_fn = _RecurrentStep(rng, vocab_size, extra)
            state = {"hidden": tf.constant(rng.normal(size=(1, 8)).astype(np.float32)), "step": tf.zeros([1], tf.int32)}
            described = f"a scripted recurrent step_fn over {vocab_size} tokens (its logits depend on the whole prefix)"
        described += f", beam_width={beam_width}, alpha={alpha}, max_length={max_length}, end_id={END_ID}"
        start_tokens = tf.constant([START_ID])
        found = reference(step_fn, state, start_tokens, END_ID, max_length, beam_width, n_best=1, alpha=alpha)
        length = int(found["lengths"][0, 0])
        want_tokens, want_score = [int(t) for t in found["tokens"][0, 0, :length].numpy()], float(found["scores"][0, 0])
        arguments = (step_fn, state, start_tokens, END_ID, max_length, beam_width, alpha)
        result = unpack(exercise, call(exercise, search_fn, arguments, described, returns), ("tokens", "score"), described)
        got_tokens = [int(t) for t in to_numpy(exercise, result[0], "tokens", described, returns).reshape(-1)]
        got_score = float(to_numpy(exercise, result[1], "score", described, returns).reshape(-1)[0])
        expected, got = f"tokens = {want_tokens}, score = {want_score:.4f}", f"tokens = {got_tokens}, score = {got_score:.4f}"
        if got_tokens == want_tokens and abs(got_score - want_score) <= 1e-3 * max(1.0, abs(want_score)):
            continue
        # On one case several mistakes can give the same wrong answer: each is named.
        matching = []
        for mistake, text in _BEAM_MISTAKES.items():
            tokens, score = _python_beam(step_fn, state, start_tokens, END_ID, max_length, beam_width, alpha, mistake)
            if tokens == got_tokens and abs(score - got_score) <= 1e-3 * max(1.0, abs(score)):
                matching.append(text)
        hint = "\n  or: ".join(matching) if matching else None
        if hint is None and got_tokens == want_tokens:
            hint = "the right tokens with the wrong score: return log-probability / length_penalty(length, alpha), length counting end_id."
        elif hint is None and got_tokens and got_tokens[-1] != END_ID and END_ID in want_tokens:
            hint = "return the hypothesis up to and including end_id, without the padding a finished hypothesis collects."
        fail(
            exercise,
            hint or "keep the beam_width best hypotheses at every step, ranked by penalised score.",
            described,
            expected,
            got,
        )
    where = " and on your trained model" if translator is not None else ""
    passed(exercise, f"finds seqlib.decoding.search.beam_search's best hypothesis and score on unseen scripted steps{where}")
