"""Auto-graders for the labs' exercises: one function per exercise.

Each check runs the learner's function on inputs the notebook never showed,
compares the result with seqlib's own implementation (or a reference written
here, for the pieces the library does not need) and prints one ✓ line. On a
wrong answer it raises `CheckFailed`, whose message gives a hint (the common
mistake that explains the difference, where one does) and then always the same
three things: the input, what was expected, and what came back.

`NotImplementedError` from an unfinished exercise passes through unchanged, so
an exercise notebook fails exactly at its TODOs and nowhere else.

    from seqlib.course import check
    check.teacher_forcing(my_shift)   # ✓ teacher_forcing: ...
"""

import numpy as np

from seqlib.conventions import END_ID as _END_ID
from seqlib.conventions import START_ID as _START_ID

# Small shapes keep every check well under a second on a laptop CPU.
_SEED = 20240611
# Values continue under their label, aligned with its first line.
_INDENT = " " * 12


class CheckFailed(AssertionError):
    """The learner's function gave a wrong answer; the message says where and why."""


# ---- helpers ----------------------------------------------------------------


def _passed(exercise, detail):
    print(f"✓ {exercise}: {detail}")


def _field(label, value):
    first, *rest = str(value).split("\n")
    return "\n".join([f"  {label + ':':<10}{first}", *(_INDENT + line for line in rest)])


def _fail(exercise, hint, described, expected, got):
    """Raises CheckFailed: the hint, then the input, what was expected and what came back."""
    raise CheckFailed(
        f"✗ {exercise}: {hint}\n{_field('on input', described)}\n{_field('expected', expected)}\n{_field('got', got)}"
    )


def _call(exercise, function, arguments, described, returns, advice=None):
    """Calls the learner's function; an unexpected exception becomes a CheckFailed
    that says which input caused it. NotImplementedError (an open TODO) passes.

    advice: (the error as "Type: message") -> a hint that explains it, or "".
    """
    try:
        return function(*arguments)
    except NotImplementedError:
        raise
    except Exception as error:
        raised = f"{type(error).__name__}: {error}"
        hint = (advice or (lambda _: ""))(raised)
        _fail(exercise, f"your function raised {raised}" + (f"\n  {hint}" if hint else ""), described, returns, raised)


def _describe(value):
    """A short description of what came back, for values that are not arrays."""
    if value is None:
        return "None (did you forget a `return`?)"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} values"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else f": {value!r}"[:200])


def _to_numpy(exercise, value, what, described, returns):
    """Tensors, arrays and lists become numpy arrays; anything else is an error."""
    if value is None:
        _fail(exercise, f"{what} is None: did you forget a `return`?", described, returns, "None")
    if hasattr(value, "to_tensor") and hasattr(value, "row_lengths"):
        _fail(exercise, f"{what} is a RaggedTensor; return a dense Tensor (batch, ...)", described, returns, _describe(value))
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    except Exception as error:  # anything np.asarray cannot read
        problem = error
    _fail(exercise, f"cannot read {what} as an array ({problem})", described, returns, _describe(value))


def _show(array):
    return np.array2string(np.asarray(array), precision=4, suppress_small=True, threshold=60, max_line_width=110)


def _named(**arrays):
    """Several named arrays, one `name =` line and the values below it for each."""
    return "\n".join(f"{name} =\n{_show(array)}" for name, array in arrays.items())


def _unpack(exercise, result, names, described):
    """Checks that a function returned a tuple of len(names) values."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        wanted = f"a tuple ({', '.join(names)})"
        _fail(exercise, f"return {wanted}", described, wanted, _describe(result))
    return result


def _expect_shape(exercise, what, got, expected_shape, described, hint=""):
    if tuple(got.shape) != tuple(expected_shape):
        _fail(
            exercise,
            f"{what} has shape {tuple(got.shape)}, expected {tuple(expected_shape)}{'; ' + hint if hint else ''}",
            described,
            f"{what} of shape {tuple(expected_shape)}",
            f"{what} of shape {tuple(got.shape)} =\n{_show(got)}",
        )


def _close(got, expected, tolerance=1e-4):
    return got.shape == expected.shape and np.allclose(got, expected, rtol=tolerance, atol=tolerance)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _random_targets(rng, batch_size, length, vocab_size=50):
    """int32 (batch, length) rows of [START] words… [END] then padding; word ids below vocab_size."""
    target = np.zeros((batch_size, length), np.int32)
    for row in range(batch_size):
        words = rng.integers(1, length - 1) if row else length - 2  # one row without padding
        target[row, 0] = _START_ID
        target[row, 1 : 1 + words] = rng.integers(4, vocab_size, size=words)
        target[row, 1 + words] = _END_ID
    return target


# ---- lab 1: data and teacher forcing ----------------------------------------


def teacher_forcing(shift_fn):
    """Checks shift_fn(target (batch, t + 1)) -> (target_in (batch, t), target_out (batch, t))."""
    import tensorflow as tf

    from seqlib.data.pipeline import shift_for_teacher_forcing

    exercise = "teacher_forcing"
    returns = "a tuple (target_in, target_out), int Tensors (batch, t), one token shorter than the target"
    rng = np.random.default_rng(_SEED)
    shapes = [(1, 4), (3, 7), (5, 12), (2, 3)]
    for batch_size, length in shapes:
        target = _random_targets(rng, batch_size, length)
        described = f"target =\n{_show(target)}"
        result = _call(exercise, shift_fn, (tf.constant(target),), described, returns)
        result = _unpack(exercise, result, ("target_in", "target_out"), described)
        got_in = _to_numpy(exercise, result[0], "target_in", described, returns)
        got_out = _to_numpy(exercise, result[1], "target_out", described, returns)
        expected_in, expected_out = (t.numpy() for t in shift_for_teacher_forcing(tf.constant(target)))
        expected = _named(target_in=expected_in, target_out=expected_out)
        got = _named(target_in=got_in, target_out=got_out)
        if _close(got_in, expected_out) and _close(got_out, expected_in):
            _fail(
                exercise,
                "target_in and target_out are swapped: the decoder READS target_in, which starts with [START] "
                f"(id {_START_ID}), and must PREDICT target_out, which ends with [END] (id {_END_ID}).",
                described,
                expected,
                got,
            )
        if got_in.shape != expected_in.shape or got_out.shape != expected_out.shape:
            hint = f"shapes {got_in.shape} and {got_out.shape}, expected {expected_in.shape} for both (one token shorter than the target)."
            if got_in.shape[:1] != expected_in.shape[:1] or got_out.shape[:1] != expected_out.shape[:1]:
                hint += " You sliced the batch axis; slice the time axis (axis 1): target[:, …]."
            _fail(exercise, hint, described, expected, got)
        for what, got_part, expected_part in (("target_in", got_in, expected_in), ("target_out", got_out, expected_out)):
            if not np.array_equal(got_part, expected_part):
                _fail(
                    exercise,
                    f"{what} is wrong: target_in = target[:, :-1] and target_out = target[:, 1:].",
                    described,
                    expected,
                    got,
                )
    _passed(exercise, f"target_in = target[:, :-1] and target_out = target[:, 1:] on {len(shapes)} unseen batches")


# Each case names the rule it tests, so a failure says which rule is missing.
STANDARDIZE_CASES = (
    # Ordered so that each case needs only its own rule and those of the cases above it.
    ("keeps accents and case", "Élise a mangé chez Zoë"),
    ("collapses and strips spaces", "   Il    pleut   "),
    ("splits punctuation off", "Wait, what?! Really..."),
    ("unifies apostrophes (’ ‘ ʼ ` → ')", "Les années \u201980 et \u201890, \u02bc70 et `60"),
    ("separates French elision", "C'est l'été, qu'il dit."),
    ("turns non-breaking and other spaces into plain ones", "Va\u00a0! Qui\u202f? Oui\tnon"),
    ("applies NFKC normal form", "Le \ufb01lm est fini\u2026 cafe\u0301"),
    (
        "turns ´ into an apostrophe before NFKC (NFKC makes it a space and a combining accent, "
        "which no later rule can turn back into an apostrophe)",
        "C\u00b4est l\u00b4hiver",
    ),
    ("splits quotes and brackets", "«Bonjour», dit-il (encore) [START]"),
)
# Pieces the generated sentences are drawn from; each exercises one or more of the rules above.
_STANDARDIZE_WORDS = (
    *"Élise garçon déjà Zoë NOËL Tom maïs peut-être".split(),
    *"l\u2019été qu\u2018il j\u02bcai c`est d'abord aujourd'hui".split(),
    *"\ufb01n cafe\u0301 \uff21BC ½".split(),
    *'. , ? ! ; : … ... « » ( ) " ¿ ¡'.split(),
)
# Often none at all, so that punctuation and elisions meet the words around them.
_STANDARDIZE_SPACES = (" ", " ", "", "", "  ", "\u00a0", "\u202f", "\t", "\u200b")


def _generated_sentences(rng, count):
    """Random sentences mixing the pieces above with plain, doubled, odd and missing spaces."""
    sentences = []
    for _ in range(count):
        pieces = rng.choice(len(_STANDARDIZE_WORDS), size=rng.integers(6, 12))
        spaces = rng.choice(len(_STANDARDIZE_SPACES), size=len(pieces) + 1)
        text = _STANDARDIZE_SPACES[spaces[0]]
        for piece, space in zip(pieces, spaces[1:]):
            text += _STANDARDIZE_WORDS[piece] + _STANDARDIZE_SPACES[space]
        sentences.append(text)
    return sentences


def standardize(standardize_fn):
    """Checks standardize_fn(text tf.string (batch,)) -> tf.string (batch,) against seqlib.data.text.standardize:
    first on one sentence per rule, then on seeded random sentences that mix the rules."""
    import tensorflow as tf

    from seqlib.data.text import standardize as reference

    exercise = "standardize"
    generated = _generated_sentences(np.random.default_rng(_SEED + 9), 10)
    batches = (
        ("your function breaks the rule that {}.", list(STANDARDIZE_CASES)),
        (
            "wrong on a generated sentence that mixes the rules (each rule alone passed); compare expected with got.",
            [("", text) for text in generated],
        ),
    )
    for hint, cases in batches:
        inputs = [text for _, text in cases]
        returns = f"a tf.string Tensor of shape ({len(inputs)},), one standardized string per sentence"
        described = f"a batch of {len(inputs)} sentences:\n" + "\n".join(repr(text) for text in inputs)
        result = _to_numpy(
            exercise,
            _call(exercise, standardize_fn, (tf.constant(inputs),), described, returns),
            "the result",
            described,
            returns,
        )
        if result.shape != (len(inputs),):
            _fail(
                exercise,
                f"return one string per sentence, shape ({len(inputs)},)",
                described,
                returns,
                f"shape {result.shape}: {_show(result)}",
            )
        expected = reference(tf.constant(inputs)).numpy()
        for (rule, text), got, want in zip(cases, result, expected):
            got = got.decode("utf-8") if isinstance(got, bytes) else str(got)
            want = want.decode("utf-8")
            if got != want:
                _fail(exercise, hint.format(rule), repr(text), repr(want), repr(got))
    _passed(
        exercise,
        f"all {len(STANDARDIZE_CASES)} normalisation rules hold on unseen sentences, and on {len(generated)} generated ones",
    )


# ---- lab 2: encoder, attention, decoder -------------------------------------


def _reference_attention(query, keys, values, source_tokens, scale=1.0, masked=True):
    scores = query @ keys.transpose(0, 2, 1) * scale
    if masked:
        scores = np.where((source_tokens != 0)[:, None, :], scores, -1e9)
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
    rng = np.random.default_rng(_SEED + 1)
    layer = LuongAttention()
    for batch_size, t, s, units in ((2, 3, 5, 4), (3, 1, 6, 8), (1, 4, 2, 3)):
        query = rng.normal(size=(batch_size, t, units)).astype(np.float32)
        keys = rng.normal(size=(batch_size, s, units)).astype(np.float32)
        values = rng.normal(size=(batch_size, s, 2 * units)).astype(np.float32)
        source_tokens = rng.integers(4, 50, size=(batch_size, s)).astype(np.int32)
        source_tokens[0, s - 1 :] = 0  # the first sentence is padded
        described = f"batch={batch_size}, t={t}, s={s}, units={units}, random query, keys and values, source_tokens =\n{_show(source_tokens)}"
        arguments = tuple(tf.constant(a) for a in (query, keys, values, source_tokens))
        result = _unpack(
            exercise, _call(exercise, attention_fn, arguments, described, returns), ("attended", "weights"), described
        )
        attended = _to_numpy(exercise, result[0], "attended", described, returns)
        weights = _to_numpy(exercise, result[1], "weights", described, returns)
        expected_attended, expected_weights = (np.asarray(x) for x in layer(*arguments))
        _expect_shape(exercise, "weights", weights, expected_weights.shape, described)
        _expect_shape(exercise, "attended", attended, expected_attended.shape, described)
        if not _close(weights, expected_weights):
            expected, got = f"weights[0] =\n{_show(expected_weights[0])}", f"weights[0] =\n{_show(weights[0])}"
            if not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-4):
                hint = (
                    "each row of weights must sum to 1 over the source positions (the last axis); take the softmax over axis -1."
                )
                got += f"\nrow sums =\n{_show(weights.sum(axis=-1))}"
            elif np.abs(weights[0, :, s - 1 :]).max() > 1e-6:
                hint = (
                    f"padded source positions (source_tokens == 0) got weight up to {np.abs(weights[0, :, s - 1 :]).max():.3f}; "
                    "set their scores to a large negative number before the softmax."
                )
            elif _close(weights, _reference_attention(query, keys, values, source_tokens, scale=1 / np.sqrt(units))[1]):
                hint = "Luong's score is the plain dot product query · key; do not divide it by sqrt(units) here."
            else:
                hint = "wrong weights; score(t, s) = query_t · key_s, then softmax over s."
            _fail(exercise, hint, described, expected, got)
        if not _close(attended, expected_attended):
            _fail(
                exercise,
                "the weights are right but the attention output is not: attended = weights @ values, a weighted average "
                "of the encoder outputs (batch, t, 2*units).",
                described,
                f"attended[0] =\n{_show(expected_attended[0])}",
                f"attended[0] =\n{_show(attended[0])}",
            )
    _passed(exercise, "scores, masking, softmax and attention outputs match LuongAttention on unseen inputs")


def _check_model(source_vocab_size=30, target_vocab_size=40):
    """A small untrained translator, its encoder, and a random batch."""
    from seqlib.config import TrainConfig
    from seqlib.models.gru import build_inference_models, build_training_model

    config = TrainConfig(name="check", embedding_dim=8, units=16, dropout_rate=0.0)
    model = build_training_model(config, source_vocab_size, target_vocab_size)
    encoder = build_inference_models(model, config).encoder
    return model, encoder


def decoder(decoder_fn):
    """Checks decoder_fn(model, target_in, state, encoder_outputs, attention_keys, context)
    -> logits (batch, t, vocab), wired from the model's layers looked up by name."""
    import tensorflow as tf

    exercise = "decoder"
    returns = "logits, a float Tensor (batch, t, vocab): the training model's output for (context, target_in)"
    rng = np.random.default_rng(_SEED + 2)
    model, encoder = _check_model()
    context = rng.integers(4, 30, size=(3, 6)).astype(np.int32)
    context[1, 4:] = 0
    target_in = _random_targets(rng, 3, 5, vocab_size=40)
    context, target_in = tf.constant(context), tf.constant(target_in)
    encoder_outputs, attention_keys, state = encoder(context)
    described = f"a random untrained model (units=16, vocab=40), context =\n{_show(context)}\ntarget_in =\n{_show(target_in)}"
    arguments = (model, target_in, state, encoder_outputs, attention_keys, context)
    logits = _to_numpy(exercise, _call(exercise, decoder_fn, arguments, described, returns), "logits", described, returns)
    expected = np.asarray(model([context, target_in], training=False))
    _expect_shape(exercise, "logits", logits, expected.shape, described)
    if _close(logits, expected):
        _passed(exercise, "your wiring reproduces the training model's logits on an unseen batch")
        return
    shown_expected, shown_got = f"logits[0, 0, :6] = {_show(expected[0, 0, :6])}", f"logits[0, 0, :6] = {_show(logits[0, 0, :6])}"

    # Find the missing connection by changing one input at a time. Random noise,
    # not a constant: adding a constant to every key leaves the softmax unchanged.
    def perturbed(tensor):
        return tensor + rng.normal(size=tensor.shape).astype(np.float32)

    def changes_when(index, replacement):
        changed = list(arguments)
        changed[index] = replacement
        result = _call(exercise, decoder_fn, tuple(changed), described + "\n(one input perturbed with noise)", returns)
        return not _close(_to_numpy(exercise, result, "logits", described, returns), logits)

    for index, name, hint in (
        (2, "state", "your logits ignore `state`: pass it to the decoder GRU as `initial_state=state`."),
        (3, "encoder_outputs", "your logits ignore `encoder_outputs`: they are the attention layer's values."),
        (4, "attention_keys", "your logits ignore `attention_keys`: they are the attention layer's keys."),
    ):
        if not changes_when(index, perturbed(arguments[index])):
            _fail(exercise, hint, described, f"logits that change with {name}; " + shown_expected, shown_got)
    _fail(
        exercise,
        "the logits differ from the model's. The order is: target_embedding -> decoder_gru (initial_state=state) "
        "-> attention(decoder_outputs, attention_keys, encoder_outputs, context) -> "
        "attention_concat([decoder_outputs, attended]) -> attention_vector -> output_norm -> logits.",
        described,
        shown_expected,
        shown_got,
    )


# ---- lab 3: the masked loss -------------------------------------------------


def masked_loss(loss_fn):
    """Checks loss_fn(target_out int (batch, t), logits float (batch, t, vocab)) -> float scalar."""
    import tensorflow as tf

    from seqlib.models.losses import masked_loss as reference

    exercise = "masked_loss"
    returns = "one number (a scalar float Tensor): the mean cross-entropy over real tokens"
    rng = np.random.default_rng(_SEED + 3)
    for batch_size, t, vocab in ((4, 6, 11), (2, 9, 7), (1, 3, 5)):
        target_out = _random_targets(rng, batch_size, t + 1)[:, 1:]
        target_out[target_out >= vocab] = vocab - 1
        logits = (2 * rng.normal(size=(batch_size, t, vocab))).astype(np.float32)
        described = f"target_out =\n{_show(target_out)}\nrandom logits of shape {logits.shape}"
        result = _call(exercise, loss_fn, (tf.constant(target_out), tf.constant(logits)), described, returns)
        got = _to_numpy(exercise, result, "the loss", described, returns)
        expected = float(reference(tf.constant(target_out), tf.constant(logits)))
        if got.size != 1:
            _fail(
                exercise,
                f"return one number (a scalar), got shape {got.shape}: average over the real tokens.",
                described,
                f"{expected:.5f}",
                f"shape {got.shape} =\n{_show(got)}",
            )
        got = float(got.reshape(()))
        if abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
            continue
        per_token = -np.take_along_axis(_log_softmax(logits), target_out[..., None], axis=-1)[..., 0]
        mask = target_out != 0
        # The most common mistake: Keras's cross-entropy takes probabilities unless told otherwise.
        as_probabilities = _cross_entropy_of_probabilities(target_out, logits)
        not_logits = (
            "the model gives logits (any real numbers), not probabilities: pass from_logits=True to the "
            "cross-entropy (Keras assumes probabilities by default)."
        )
        known_mistakes = (
            ((as_probabilities * mask).sum() / mask.sum(), not_logits),
            ((as_probabilities * mask).sum() / mask.size, not_logits + " Divide by the number of real tokens, too."),
            (as_probabilities.mean(), not_logits + " Padding must not count either."),
            (
                per_token.mean(),
                "you averaged over padding too: padded positions (target_out == 0) must count in neither the sum nor the count.",
            ),
            (
                (per_token * mask).sum() / mask.size,
                "you zeroed the padding's losses but divided by all positions; divide by the number of real tokens.",
            ),
            ((per_token * mask).sum(), "you summed the losses; divide by the number of real tokens for a mean."),
        )
        hint = "the loss should be the mean cross-entropy over real tokens (target_out != 0)."
        for value, mistake in known_mistakes:
            if np.isfinite(value) and abs(got - value) <= 1e-4 * max(1.0, abs(value)):
                hint = mistake
                break
        _fail(exercise, hint, described, f"{expected:.5f}", f"{got:.5f}")
    _passed(exercise, "matches seqlib.models.losses.masked_loss on unseen batches with padding")


def _cross_entropy_of_probabilities(target_out, logits):
    """What Keras's sparse cross-entropy gives with from_logits=False on logits: int (batch, t),
    float (batch, t, vocab) -> float (batch, t)."""
    import keras

    return keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=False))


def _batch(rng, batch_size=3, source_length=6, target_length=6, source_vocab=30, target_vocab=40):
    """A random (context, target_in, target_out) batch with padding, as int32 Tensors."""
    import tensorflow as tf

    context = rng.integers(4, source_vocab, size=(batch_size, source_length)).astype(np.int32)
    context[1:, source_length - 2 :] = 0
    target = _random_targets(rng, batch_size, target_length + 1, vocab_size=target_vocab)
    return tf.constant(context), tf.constant(target[:, :-1]), tf.constant(target[:, 1:])


def train_step(train_step_fn):
    """Checks train_step_fn(model, optimizer, loss_fn, context, target_in, target_out) -> loss:
    one GradientTape step that returns the batch's loss before the update and updates
    every trainable weight once, with the optimizer it was given."""
    import keras
    import tensorflow as tf

    from seqlib.models.losses import masked_loss as loss_fn

    exercise = "train_step"
    returns = "the batch's loss before the update (a scalar), with every trainable weight updated once by `optimizer`"
    rng = np.random.default_rng(_SEED + 9)
    context, target_in, target_out = _batch(rng)
    reference, _ = _check_model()
    learner, _ = _check_model()
    learner.set_weights(reference.get_weights())
    before = [variable.numpy() for variable in reference.trainable_variables]

    with tf.GradientTape() as tape:
        logits = reference([context, target_in], training=True)
        loss = loss_fn(target_out, logits)
    expected_loss = float(loss)
    gradients = tape.gradient(loss, reference.trainable_variables)
    keras.optimizers.SGD(learning_rate=0.5).apply_gradients(zip(gradients, reference.trainable_variables))
    expected_change = [variable.numpy() - start for variable, start in zip(reference.trainable_variables, before)]

    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    described = (
        "a random untrained model (units=16, vocab=40), keras.optimizers.SGD(learning_rate=0.5), "
        f"loss_fn=seqlib.models.losses.masked_loss,\ncontext =\n{_show(context)}\ntarget_in =\n{_show(target_in)}\n"
        f"target_out =\n{_show(target_out)}"
    )

    def advice(raised):
        if "No gradients" not in raised and "NoneType" not in raised:
            return ""
        return (
            "The tape saw no computation that leads to the loss: run the model and loss_fn inside "
            "`with tf.GradientTape() as tape:`, then call tape.gradient(loss, model.trainable_variables) after it."
        )

    arguments = (learner, optimizer, loss_fn, context, target_in, target_out)
    result = _call(exercise, train_step_fn, arguments, described, returns, advice)
    got_loss = _to_numpy(exercise, result, "the loss", described, returns)
    if got_loss.size != 1:
        _fail(
            exercise,
            f"return one number, the loss; got shape {got_loss.shape}",
            described,
            f"{expected_loss:.5f}",
            _show(got_loss),
        )
    got_loss = float(got_loss.reshape(()))
    changed = [variable.numpy() - start for variable, start in zip(learner.trainable_variables, before)]
    moved = [bool(np.abs(change).max() > 1e-7) for change in changed]
    should_move = [bool(np.abs(change).max() > 1e-7) for change in expected_change]
    if not any(moved):
        _fail(
            exercise,
            "the weights did not change: after tape.gradient, call optimizer.apply_gradients(zip(gradients, model.trainable_variables)).",
            described,
            f"{sum(should_move)} of {len(moved)} trainable variables updated",
            "none updated",
        )
    if int(optimizer.iterations.numpy()) != 1:
        _fail(
            exercise,
            "update the weights with the `optimizer` passed in, once (its step counter says "
            f"{int(optimizer.iterations.numpy())} updates): it keeps state, such as Adam's moments, between steps.",
            described,
            "optimizer.iterations == 1",
            f"optimizer.iterations == {int(optimizer.iterations.numpy())}",
        )
    if abs(got_loss - expected_loss) > 1e-4 * max(1.0, abs(expected_loss)):
        unmasked = float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=True)))
        after = float(loss_fn(target_out, reference([context, target_in], training=True)))
        known_mistakes = (
            (
                float(loss_fn(target_in, logits)),
                "that is the loss against target_in; the labels are target_out (the target shifted left).",
            ),
            (unmasked, "that loss counts the padding: use the loss_fn you were given, the masked loss."),
            (after, "that is the loss after the update; return the one computed inside the tape, before it."),
        )
        hint = "return the loss that loss_fn gave for this batch, computed inside the tape before the update."
        for value, mistake in known_mistakes:
            if abs(got_loss - value) <= 1e-4 * max(1.0, abs(value)):
                hint = mistake
                break
        _fail(exercise, hint, described, f"{expected_loss:.5f}", f"{got_loss:.5f}")
    if not all(_close(got, want) for got, want in zip(changed, expected_change)):
        ascent = all(_close(got, -want) for got, want in zip(changed, expected_change))
        if ascent:
            hint = (
                "your step moved every weight up the gradient, making the loss larger: pass the gradients of the loss "
                "itself to apply_gradients (the optimizer subtracts them)."
            )
        elif sum(moved) < sum(should_move):
            hint = (
                f"only {sum(moved)} of the {sum(should_move)} trainable variables changed: take the gradients of "
                "model.trainable_variables, all of them, and apply them to the same list."
            )
        else:
            hint = "the update differs from one step down the gradient of loss_fn(target_out, model([context, target_in], training=True))."
        worst = int(np.argmax([np.abs(got - want).max() for got, want in zip(changed, expected_change)]))
        name = learner.trainable_variables[worst].path
        _fail(
            exercise,
            hint,
            described,
            f"change of {name}[:4] = {_show(expected_change[worst].reshape(-1)[:4])}",
            f"change of {name}[:4] = {_show(changed[worst].reshape(-1)[:4])}",
        )
    _passed(exercise, "returns the loss and updates every weight as one step of optimizer on loss_fn does, on an unseen batch")


# ---- lab 4: serving ---------------------------------------------------------


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
    rng = np.random.default_rng(_SEED + 4)
    for batch_size, vocab_size in ((3, 9), (1, 5), (4, 17)):
        step = _ScriptedStep(rng, vocab_size)
        tokens = tf.constant(rng.integers(0, vocab_size, size=batch_size).astype(np.int32))
        bias = tf.constant(rng.normal(size=(batch_size, vocab_size)).astype(np.float32))
        state = {"bias": bias}
        expected_logits, expected_state = _ScriptedStep.__call__(step, tokens, state)
        step.calls = 0  # the reference call above is not the learner's
        expected_logits = expected_logits.numpy()
        described = (
            f"batch={batch_size}, vocab={vocab_size}, tokens={_show(tokens)}, a scripted step_fn whose logits are\n"
            f"{_show(expected_logits)}"
        )
        result = _call(exercise, greedy_step_fn, (step, tokens, state), described, returns)
        result = _unpack(exercise, result, ("next_tokens", "log_probs", "new_state"), described)
        if step.calls != 1:
            _fail(exercise, "call step_fn exactly once per step.", described, "1 call of step_fn", f"{step.calls} calls")
        next_tokens = _to_numpy(exercise, result[0], "next_tokens", described, returns)
        log_probs = _to_numpy(exercise, result[1], "log_probs", described, returns)
        expected_tokens = expected_logits.argmax(axis=-1)
        expected_log_probs = _log_softmax(expected_logits)[np.arange(batch_size), expected_tokens]
        _expect_shape(
            exercise, "next_tokens", next_tokens, (batch_size,), described, "take the argmax over the vocabulary, axis -1"
        )
        if not np.array_equal(next_tokens, expected_tokens):
            _fail(
                exercise,
                "next_tokens should be the most probable token of each row (argmax over axis -1).",
                described,
                f"next_tokens = {_show(expected_tokens)}",
                f"next_tokens = {_show(next_tokens)}",
            )
        _expect_shape(exercise, "log_probs", log_probs, (batch_size,), described)
        if not _close(log_probs, expected_log_probs):
            chosen_logits = expected_logits[np.arange(batch_size), expected_tokens]
            if _close(log_probs, np.exp(expected_log_probs)):
                hint = "you returned probabilities; return log-probabilities (tf.nn.log_softmax), which search adds up."
            elif _close(log_probs, chosen_logits):
                hint = "you returned raw logits; normalise them with tf.nn.log_softmax first."
            else:
                hint = "log_probs should be log_softmax(logits) at the chosen tokens."
            _fail(exercise, hint, described, f"log_probs = {_show(expected_log_probs)}", f"log_probs = {_show(log_probs)}")
        new_state = result[2]
        expected_bias = expected_state["bias"].numpy()
        if not isinstance(new_state, dict) or "bias" not in new_state:
            _fail(
                exercise,
                "return the state that step_fn gave back, so the next step continues from it.",
                described,
                f"new_state = {{'bias': {_show(expected_bias)}}}",
                _describe(new_state),
            )
        got_bias = _to_numpy(exercise, new_state["bias"], "new_state['bias']", described, returns)
        if not _close(got_bias, expected_bias):
            _fail(
                exercise,
                "return the state that step_fn gave back, so the next step continues from it.",
                described,
                f"new_state['bias'] =\n{_show(expected_bias)}",
                f"new_state['bias'] =\n{_show(got_bias)}",
            )
    _passed(exercise, "picks the argmax token with its log-probability and carries the state, on unseen steps")


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
    rng = np.random.default_rng(_SEED + 5)
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
        described = f"beam_width={beam_width}, vocab={vocab_size}, candidate_scores of shape {scores.shape} =\n{_show(scores)}"
        result = _call(exercise, top_k_fn, (tf.constant(scores), beam_width), described, returns)
        result = _unpack(exercise, result, ("scores", "parent", "token"), described)
        got_scores, got_parent, got_token = (
            _to_numpy(exercise, value, name, described, returns) for value, name in zip(result, ("scores", "parent", "token"))
        )
        want_scores, want_parent, want_token = _reference_top_k(scores, beam_width)
        for name, got in (("scores", got_scores), ("parent", got_parent), ("token", got_token)):
            _expect_shape(exercise, name, got, (batch_size, beam_width), described)
        if not _close(got_scores, want_scores):
            per_beam = np.sort(scores.max(axis=-1), axis=-1)[:, ::-1]
            if _close(np.sort(got_scores, axis=-1)[:, ::-1], want_scores):
                hint = "the right candidates, in the wrong order: return them best first."
            elif _close(np.sort(got_scores, axis=-1)[:, ::-1], -np.sort(-scores[:, 0, :], axis=-1)[:, :beam_width]):
                hint = "you searched the first beam only; every beam's candidates compete (flatten beam × vocab first)."
            elif _close(np.sort(got_scores, axis=-1)[:, ::-1], per_beam):
                hint = (
                    "you kept the best token of each beam; flatten (beam × vocab) into one axis first, so that two "
                    "children of one strong beam can both survive."
                )
            else:
                hint = "take the top beam_width of all beam × vocab candidates of each sentence."
            _fail(exercise, hint, described, f"scores =\n{_show(want_scores)}", f"scores =\n{_show(got_scores)}")
        if not (np.array_equal(got_parent, want_parent) and np.array_equal(got_token, want_token)):
            _fail(
                exercise,
                "the scores are right but parent/token are not: for a flat index i over (beam × vocab), "
                "parent = i // vocab_size and token = i % vocab_size.",
                described,
                _named(parent=want_parent, token=want_token),
                _named(parent=got_parent, token=got_token),
            )
    _passed(exercise, "selects the best (parent, token) pairs over beam × vocab, best first, on unseen scores")


class _CountdownStep:
    """A step function whose rows end on cue: logits are row `token` of a fixed table,
    except that end_id wins exactly when a row's counter reaches its `finish_at` (and
    never before), and padding never wins. State: {"step": int32 (batch,), "finish_at":
    int32 (batch,)}; each call adds 1 to "step", so a loop that drops the returned
    state never ends a row."""

    def __init__(self, rng, vocab_size):
        import tensorflow as tf

        table = rng.normal(size=(vocab_size, vocab_size)).astype(np.float32) * 3
        table[:, 0] = -1e9  # padding is never generated
        table[:, _END_ID] = -50.0
        self.table = tf.constant(table)

    def __call__(self, tokens, state):
        import tensorflow as tf

        step = state["step"] + 1
        ends = tf.one_hot(_END_ID, self.table.shape[1]) * 100.0
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
    rng = np.random.default_rng(_SEED + 10)
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
                f"end_id={_END_ID}, max_length={max_length}, a scripted step_fn over {vocab_size} tokens whose rows "
                f"produce end_id at steps {list(finish_at)} (99: never)"
            )
        start_tokens = tf.fill([len(state["context" if finish_at is None else "finish_at"])], _START_ID)
        expected = reference(step_fn, state, start_tokens, _END_ID, max_length)["tokens"].numpy()
        result = _call(exercise, search_fn, (step_fn, state, start_tokens, _END_ID, max_length), described, returns)
        got = _to_numpy(exercise, result, "the tokens", described, returns)
        if got.shape == expected.shape and np.array_equal(got, expected):
            continue
        fallback = "greedy search takes the argmax at every step and feeds it back, for every row, until all rows have ended."
        hint = _greedy_hint(got, step_fn, state, start_tokens, _END_ID, max_length, fallback)
        _fail(exercise, hint, described, f"tokens =\n{_show(expected)}", f"tokens =\n{_show(got)}")
    where = " and on your trained model" if translator is not None else ""
    _passed(exercise, f"matches seqlib.decoding.search.greedy_search on unseen scripted steps{where}")


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
        bias[0] = -1e9
        bias[_END_ID] = -3.0
        self.bias, self.end_growth = tf.constant(bias), end_growth
        self.end = tf.one_hot(_END_ID, vocab_size)

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
        step_log_probs = _log_softmax(np.asarray(logits, np.float64))
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
            rng = np.random.default_rng(_SEED + 100 + seed)
            step_fn = _RecurrentStep(rng, vocab_size, extra)
            state = {"hidden": tf.constant(rng.normal(size=(1, 8)).astype(np.float32)), "step": tf.zeros([1], tf.int32)}
            described = f"a scripted recurrent step_fn over {vocab_size} tokens (its logits depend on the whole prefix)"
        described += f", beam_width={beam_width}, alpha={alpha}, max_length={max_length}, end_id={_END_ID}"
        start_tokens = tf.constant([_START_ID])
        found = reference(step_fn, state, start_tokens, _END_ID, max_length, beam_width, n_best=1, alpha=alpha)
        length = int(found["lengths"][0, 0])
        want_tokens, want_score = [int(t) for t in found["tokens"][0, 0, :length].numpy()], float(found["scores"][0, 0])
        arguments = (step_fn, state, start_tokens, _END_ID, max_length, beam_width, alpha)
        result = _unpack(exercise, _call(exercise, search_fn, arguments, described, returns), ("tokens", "score"), described)
        got_tokens = [int(t) for t in _to_numpy(exercise, result[0], "tokens", described, returns).reshape(-1)]
        got_score = float(_to_numpy(exercise, result[1], "score", described, returns).reshape(-1)[0])
        expected, got = f"tokens = {want_tokens}, score = {want_score:.4f}", f"tokens = {got_tokens}, score = {got_score:.4f}"
        if got_tokens == want_tokens and abs(got_score - want_score) <= 1e-3 * max(1.0, abs(want_score)):
            continue
        # On one case several mistakes can give the same wrong answer: each is named.
        matching = []
        for mistake, text in _BEAM_MISTAKES.items():
            tokens, score = _python_beam(step_fn, state, start_tokens, _END_ID, max_length, beam_width, alpha, mistake)
            if tokens == got_tokens and abs(score - got_score) <= 1e-3 * max(1.0, abs(score)):
                matching.append(text)
        hint = "\n  or: ".join(matching) if matching else None
        if hint is None and got_tokens == want_tokens:
            hint = "the right tokens with the wrong score: return log-probability / length_penalty(length, alpha), length counting end_id."
        elif hint is None and got_tokens and got_tokens[-1] != _END_ID and _END_ID in want_tokens:
            hint = "return the hypothesis up to and including end_id, without the padding a finished hypothesis collects."
        _fail(
            exercise,
            hint or "keep the beam_width best hypotheses at every step, ranked by penalised score.",
            described,
            expected,
            got,
        )
    where = " and on your trained model" if translator is not None else ""
    _passed(exercise, f"finds seqlib.decoding.search.beam_search's best hypothesis and score on unseen scripted steps{where}")


# ---- lab 5: beyond RNNs -----------------------------------------------------


def _reference_self_attention(query, key, value, causal, scaled=True):
    scores = query @ key.transpose(0, 2, 1) / (np.sqrt(query.shape[-1]) if scaled else 1.0)
    if causal:
        t, s = scores.shape[1:]
        scores = np.where(np.tril(np.ones((t, s), bool)), scores, -1e9)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ value, weights


def self_attention(attention_fn):
    """Checks attention_fn(query (batch, t, depth), key (batch, t, depth), value (batch, t, depth_v), causal)
    -> (output (batch, t, depth_v), weights (batch, t, t)): scaled dot-product attention."""
    import tensorflow as tf

    exercise = "self_attention"
    returns = "a tuple (output (batch, t, depth_v), weights (batch, t, t))"
    rng = np.random.default_rng(_SEED + 6)
    for batch_size, t, depth, causal in ((2, 4, 8, False), (2, 5, 4, True), (1, 3, 16, True)):
        query, key, value = (rng.normal(size=(batch_size, t, depth)).astype(np.float32) for _ in range(3))
        described = f"batch={batch_size}, t={t}, depth={depth}, causal={causal}, random query, key and value"
        arguments = (tf.constant(query), tf.constant(key), tf.constant(value), causal)
        result = _unpack(exercise, _call(exercise, attention_fn, arguments, described, returns), ("output", "weights"), described)
        output = _to_numpy(exercise, result[0], "output", described, returns)
        weights = _to_numpy(exercise, result[1], "weights", described, returns)
        want_output, want_weights = _reference_self_attention(query, key, value, causal)
        _expect_shape(exercise, "weights", weights, want_weights.shape, described)
        _expect_shape(exercise, "output", output, want_output.shape, described)
        if not _close(weights, want_weights):
            future = np.triu(np.ones((t, t), bool), k=1)
            if causal and np.abs(weights[:, future]).max() > 1e-6:
                hint = "with causal=True, position i must not attend to a later position j > i: mask the upper triangle."
            elif _close(weights, _reference_self_attention(query, key, value, causal, scaled=False)[1]):
                hint = "divide the scores by sqrt(depth) before the softmax, so their spread does not grow with depth."
            elif not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-4):
                hint = "each query's weights must sum to 1 over the keys: take the softmax over the last axis."
            else:
                hint = "weights = softmax(query · keyᵀ / sqrt(depth)) over the last axis."
            _fail(exercise, hint, described, f"weights[0] =\n{_show(want_weights[0])}", f"weights[0] =\n{_show(weights[0])}")
        if not _close(output, want_output):
            _fail(
                exercise,
                "the weights are right but the output is not: output = weights @ value.",
                described,
                f"output[0] =\n{_show(want_output[0])}",
                f"output[0] =\n{_show(output[0])}",
            )
    _passed(exercise, "scaled dot-product attention, with and without the causal mask, on unseen inputs")


def mean_pool(pool_fn):
    """Checks pool_fn(encoder_outputs float (batch, s, depth), context int (batch, s)) ->
    float (batch, depth): the mean of the outputs at real (non-padding) tokens."""
    import tensorflow as tf

    exercise = "mean_pool"
    returns = "a float Tensor (batch, depth): the mean over the real tokens of each sentence"
    rng = np.random.default_rng(_SEED + 7)
    for batch_size, s, depth in ((3, 5, 4), (2, 7, 6)):
        outputs = rng.normal(size=(batch_size, s, depth)).astype(np.float32)
        context = rng.integers(4, 50, size=(batch_size, s)).astype(np.int32)
        context[0, 2:] = 0
        context[1, s - 1 :] = 0
        described = f"random encoder_outputs of shape {outputs.shape}, context =\n{_show(context)}"
        result = _call(exercise, pool_fn, (tf.constant(outputs), tf.constant(context)), described, returns)
        got = _to_numpy(exercise, result, "the result", described, returns)
        mask = (context != 0)[..., None]
        expected = (outputs * mask).sum(axis=1) / mask.sum(axis=1)
        _expect_shape(exercise, "the result", got, expected.shape, described, "average over axis 1, the source positions")
        if not _close(got, expected):
            if _close(got, outputs.mean(axis=1)):
                hint = "you averaged over padding too; average only where context != 0."
            elif _close(got, (outputs * mask).sum(axis=1) / s):
                hint = "you summed the real positions but divided by all positions; divide by the number of real tokens."
            else:
                hint = "sum the outputs where context != 0 and divide by the number of real tokens."
            _fail(exercise, hint, described, f"row 0 = {_show(expected[0])}", f"row 0 = {_show(got[0])}")
    _passed(exercise, "averages the encoder outputs over real tokens only, on unseen inputs")


def sentence_search(search_fn):
    """Checks search_fn(query_vectors (queries, depth), sentence_vectors (n, depth), k) ->
    int (queries, k): the k most cosine-similar sentences of each query, best first."""
    import tensorflow as tf

    exercise = "sentence_search"
    returns = "an int Tensor (queries, k): the indices of the k most cosine-similar sentences, best first"
    rng = np.random.default_rng(_SEED + 8)
    for queries, n, depth, k in ((2, 12, 5, 3), (3, 20, 8, 1)):
        sentences = rng.normal(size=(n, depth)).astype(np.float32)
        # Lengths vary a lot, so a plain dot product ranks long vectors first.
        sentences *= rng.uniform(0.1, 10.0, size=(n, 1)).astype(np.float32)
        query = rng.normal(size=(queries, depth)).astype(np.float32)
        described = f"{queries} random queries and {n} random sentences of depth {depth} (of very different lengths), k={k}"
        result = _call(exercise, search_fn, (tf.constant(query), tf.constant(sentences), k), described, returns)
        got = _to_numpy(exercise, result, "the result", described, returns)
        unit = sentences / np.linalg.norm(sentences, axis=1, keepdims=True)
        similarity = (query / np.linalg.norm(query, axis=1, keepdims=True)) @ unit.T
        expected = np.argsort(-similarity, axis=1)[:, :k]
        _expect_shape(exercise, "the result", got, expected.shape, described)
        if not np.array_equal(got, expected):
            if np.array_equal(got, np.argsort(-(query @ sentences.T), axis=1)[:, :k]):
                hint = "that is the dot-product ranking; normalise both sides to unit length (cosine similarity), so long vectors do not win."
            elif np.array_equal(got, np.argsort(similarity, axis=1)[:, :k]):
                hint = "you returned the least similar sentences; sort best first."
            elif _close(got.astype(np.float64), -np.sort(-similarity, axis=1)[:, :k]):
                hint = "you returned the similarities themselves; return the sentences' indices (top_k's .indices)."
            else:
                hint = "rank the sentences by cosine similarity to each query and return the indices of the k best."
            _fail(exercise, hint, described, _show(expected), _show(got))
    _passed(exercise, "returns the k nearest sentences by cosine similarity, best first, on unseen vectors")
