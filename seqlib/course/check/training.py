"""Lab 3's graders, training: `masked_loss` (the cross-entropy over real tokens)
and `train_step` (one GradientTape step)."""

import numpy as np

from seqlib.course.check.inputs import SEED, log_softmax, random_targets, small_model
from seqlib.course.check.report import call, close, fail, passed, show, to_numpy


def masked_loss(loss_fn):
    """Checks loss_fn(target_out int (batch, t), logits float (batch, t, vocab)) -> float scalar."""
    import tensorflow as tf

    from seqlib.models.losses import masked_loss as reference

    exercise = "masked_loss"
    returns = "one number (a scalar float Tensor): the mean cross-entropy over real tokens"
    rng = np.random.default_rng(SEED + 3)
    for batch_size, t, vocab in ((4, 6, 11), (2, 9, 7), (1, 3, 5)):
        target_out = random_targets(rng, batch_size, t + 1)[:, 1:]
        target_out[target_out >= vocab] = vocab - 1
        logits = (2 * rng.normal(size=(batch_size, t, vocab))).astype(np.float32)
        described = f"target_out =\n{show(target_out)}\nrandom logits of shape {logits.shape}"
        result = call(exercise, loss_fn, (tf.constant(target_out), tf.constant(logits)), described, returns)
        got = to_numpy(exercise, result, "the loss", described, returns)
        expected = float(reference(tf.constant(target_out), tf.constant(logits)))
        if got.size != 1:
            fail(
                exercise,
                f"return one number (a scalar), got shape {got.shape}: average over the real tokens.",
                described,
                f"{expected:.5f}",
                f"shape {got.shape} =\n{show(got)}",
            )
        got = float(got.reshape(()))
        if abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
            continue
        per_token = -np.take_along_axis(log_softmax(logits), target_out[..., None], axis=-1)[..., 0]
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
        fail(exercise, hint, described, f"{expected:.5f}", f"{got:.5f}")
    passed(exercise, "matches seqlib.models.losses.masked_loss on unseen batches with padding")


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
    target = random_targets(rng, batch_size, target_length + 1, vocab_size=target_vocab)
    return tf.constant(context), tf.constant(target[:, :-1]), tf.constant(target[:, 1:])


def train_step(train_step_fn):
    """Checks train_step_fn(model, optimizer, loss_fn, context, target_in, target_out) -> loss:
    one GradientTape step that returns the batch's loss before the update and updates
    every trainable weight once, with the optimizer it was given."""
    import keras

    from seqlib.models.losses import masked_loss as loss_fn

    exercise = "train_step"
    returns = "the batch's loss before the update (a scalar), with every trainable weight updated once by `optimizer`"
    rng = np.random.default_rng(SEED + 9)
    batch = _batch(rng)
    context, target_in, target_out = batch
    reference, _ = small_model()
    learner, _ = small_model()
    learner.set_weights(reference.get_weights())
    before = [variable.numpy() for variable in reference.trainable_variables]
    expected_loss, logits = _sgd_step(reference, loss_fn, batch)
    expected_change = _changes(reference, before)

    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    described = (
        "a random untrained model (units=16, vocab=40), keras.optimizers.SGD(learning_rate=0.5), "
        f"loss_fn=seqlib.models.losses.masked_loss,\ncontext =\n{show(context)}\ntarget_in =\n{show(target_in)}\n"
        f"target_out =\n{show(target_out)}"
    )
    arguments = (learner, optimizer, loss_fn, context, target_in, target_out)
    result = call(exercise, train_step_fn, arguments, described, returns, _no_gradients_advice)
    got_loss = to_numpy(exercise, result, "the loss", described, returns)
    if got_loss.size != 1:
        fail(
            exercise,
            f"return one number, the loss; got shape {got_loss.shape}",
            described,
            f"{expected_loss:.5f}",
            show(got_loss),
        )
    got_loss = float(got_loss.reshape(()))
    changed = _changes(learner, before)
    moved = [bool(np.abs(change).max() > 1e-7) for change in changed]
    should_move = [bool(np.abs(change).max() > 1e-7) for change in expected_change]
    _check_one_update(exercise, optimizer, moved, should_move, described)
    if abs(got_loss - expected_loss) > 1e-4 * max(1.0, abs(expected_loss)):
        hint = _loss_hint(got_loss, reference, loss_fn, batch, logits)
        fail(exercise, hint, described, f"{expected_loss:.5f}", f"{got_loss:.5f}")
    if not all(close(got, want) for got, want in zip(changed, expected_change)):
        worst = int(np.argmax([np.abs(got - want).max() for got, want in zip(changed, expected_change)]))
        name = learner.trainable_variables[worst].path
        fail(
            exercise,
            _update_hint(changed, expected_change, moved, should_move),
            described,
            f"change of {name}[:4] = {show(expected_change[worst].reshape(-1)[:4])}",
            f"change of {name}[:4] = {show(changed[worst].reshape(-1)[:4])}",
        )
    passed(exercise, "returns the loss and updates every weight as one step of optimizer on loss_fn does, on an unseen batch")


def _sgd_step(model, loss_fn, batch):
    """The step the learner should take, taken on `model` with SGD(learning_rate=0.5):
    returns (the loss before the update, the logits it came from)."""
    import keras
    import tensorflow as tf

    context, target_in, target_out = batch
    with tf.GradientTape() as tape:
        logits = model([context, target_in], training=True)
        loss = loss_fn(target_out, logits)
    gradients = tape.gradient(loss, model.trainable_variables)
    keras.optimizers.SGD(learning_rate=0.5).apply_gradients(zip(gradients, model.trainable_variables))
    return float(loss), logits


def _changes(model, before):
    """How far each trainable variable moved from `before`, as numpy arrays."""
    return [variable.numpy() - start for variable, start in zip(model.trainable_variables, before)]


def _no_gradients_advice(raised):
    """The hint for an error that says the tape recorded nothing (see report.call's advice)."""
    if "No gradients" not in raised and "NoneType" not in raised:
        return ""
    return (
        "The tape saw no computation that leads to the loss: run the model and loss_fn inside "
        "`with tf.GradientTape() as tape:`, then call tape.gradient(loss, model.trainable_variables) after it."
    )


def _check_one_update(exercise, optimizer, moved, should_move, described):
    """Fails unless the weights moved, by one step of the optimizer passed in."""
    if not any(moved):
        fail(
            exercise,
            "the weights did not change: after tape.gradient, call optimizer.apply_gradients(zip(gradients, model.trainable_variables)).",
            described,
            f"{sum(should_move)} of {len(moved)} trainable variables updated",
            "none updated",
        )
    if int(optimizer.iterations.numpy()) != 1:
        fail(
            exercise,
            "update the weights with the `optimizer` passed in, once (its step counter says "
            f"{int(optimizer.iterations.numpy())} updates): it keeps state, such as Adam's moments, between steps.",
            described,
            "optimizer.iterations == 1",
            f"optimizer.iterations == {int(optimizer.iterations.numpy())}",
        )


def _loss_hint(got_loss, reference, loss_fn, batch, logits):
    """Names the loss the learner returned, when it is a known wrong one. `reference` has
    taken the step already; `logits` are its output before it."""
    import keras
    import tensorflow as tf

    context, target_in, target_out = batch
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
    for value, mistake in known_mistakes:
        if abs(got_loss - value) <= 1e-4 * max(1.0, abs(value)):
            return mistake
    return "return the loss that loss_fn gave for this batch, computed inside the tape before the update."


def _update_hint(changed, expected_change, moved, should_move):
    """Explains why the weights moved differently from one SGD step down the gradient."""
    if all(close(got, -want) for got, want in zip(changed, expected_change)):
        return (
            "your step moved every weight up the gradient, making the loss larger: pass the gradients of the loss "
            "itself to apply_gradients (the optimizer subtracts them)."
        )
    if sum(moved) < sum(should_move):
        return (
            f"only {sum(moved)} of the {sum(should_move)} trainable variables changed: take the gradients of "
            "model.trainable_variables, all of them, and apply them to the same list."
        )
    return (
        "the update differs from one step down the gradient of loss_fn(target_out, model([context, target_in], training=True))."
    )
