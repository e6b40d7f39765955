"""Masked loss and accuracy: padding (id 0) counts in neither numerator nor denominator."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqlib")
def masked_loss(target_out, logits):
    """Mean cross-entropy over real (non-padding) target tokens.

    Args:
        target_out: int Tensor (batch, t), 0 for padding.
        logits: float Tensor (batch, t, vocab).

    Returns:
        float scalar. For an untrained model it is about log(vocab).
    """
    losses = keras.losses.sparse_categorical_crossentropy(target_out, ops.cast(logits, "float32"), from_logits=True)
    mask = ops.cast(ops.not_equal(target_out, 0), losses.dtype)
    return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="seqlib")
def masked_accuracy(target_out, logits):
    """Share of real target tokens whose argmax prediction is right.

    Args:
        target_out: int Tensor (batch, t), 0 for padding.
        logits: float Tensor (batch, t, vocab).

    Returns:
        float scalar in [0, 1].
    """
    predicted = ops.cast(ops.argmax(logits, axis=-1), target_out.dtype)
    mask = ops.not_equal(target_out, 0)
    correct = ops.cast(ops.logical_and(ops.equal(predicted, target_out), mask), "float32")
    return ops.sum(correct) / ops.maximum(ops.sum(ops.cast(mask, "float32")), 1.0)


@keras.saving.register_keras_serializable(package="seqlib")
class MaskedAccuracy(keras.metrics.Metric):
    """Token accuracy over an epoch: correct real tokens / real tokens.

    Counts are summed over batches, so long and short batches weigh by their
    number of real tokens, and padding counts in neither sum.
    """

    def __init__(self, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, target_out, logits, sample_weight=None):
        predicted = ops.cast(ops.argmax(logits, axis=-1), target_out.dtype)
        mask = ops.not_equal(target_out, 0)
        self.correct.assign_add(ops.sum(ops.cast(ops.logical_and(ops.equal(predicted, target_out), mask), "float32")))
        self.total.assign_add(ops.sum(ops.cast(mask, "float32")))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)
