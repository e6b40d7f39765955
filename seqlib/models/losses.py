"""Masked loss and accuracy: padding (id 0) counts in neither numerator nor denominator."""

import keras
import tensorflow as tf
from keras import ops


def token_cross_entropy(target_out, logits):
    """-log softmax(logits)[target] for every position, with its gradient.

    The same numbers as tf.nn.sparse_softmax_cross_entropy_with_logits, about
    twice as fast on an x86 CPU with oneDNN, TensorFlow's default there
    (measured: 60 vs 120 ms forward and backward for 256 × 10 × 8,000 logits,
    a tenth of a cpu-preset training step): that kernel is plain Eigen, while
    the softmax here runs on oneDNN, and the gradient, softmax minus one-hot,
    reuses the softmax. Elsewhere (ARM, oneDNN off) the gain is unmeasured.

    Args:
        target_out: int Tensor (batch, t).
        logits: float32 Tensor (batch, t, vocab).

    Returns:
        float32 Tensor (batch, t).
    """
    target_out = tf.cast(target_out, tf.int32)

    @tf.custom_gradient
    def cross_entropy(logits):
        probabilities = tf.nn.softmax(logits)
        # log Σ exp(logits) = max logit − log(largest probability); the largest
        # probability is at least 1 / vocab, so its log cannot underflow.
        log_normalizer = tf.reduce_max(logits, axis=-1) - tf.math.log(tf.reduce_max(probabilities, axis=-1))
        losses = log_normalizer - tf.gather(logits, target_out, batch_dims=2)

        def gradient(upstream):
            # upstream (batch, t) × (softmax − one_hot(target)), the one-hot
            # subtracted at one entry a row instead of built vocabulary-wide.
            scaled = tf.reshape(probabilities * upstream[..., tf.newaxis], [-1, tf.shape(logits)[-1]])
            rows = tf.range(tf.shape(scaled)[0])
            targets = tf.stack([rows, tf.reshape(target_out, [-1])], axis=1)
            scaled = tf.tensor_scatter_nd_sub(scaled, targets, tf.reshape(upstream, [-1]))
            return tf.reshape(scaled, tf.shape(logits))

        return losses, gradient

    return cross_entropy(logits)


@keras.saving.register_keras_serializable(package="seqlib")
def masked_loss(target_out, logits):
    """Mean cross-entropy over real (non-padding) target tokens.

    Args:
        target_out: int Tensor (batch, t), 0 for padding.
        logits: float Tensor (batch, t, vocab).

    Returns:
        float scalar. For an untrained model it is about log(vocab).
    """
    logits = ops.cast(logits, "float32")
    # Accelerators keep the fused kernel, which is fast there (and measured).
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        losses = keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=True)
    else:
        losses = token_cross_entropy(target_out, logits)
    mask = ops.cast(ops.not_equal(target_out, 0), losses.dtype)
    return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)


def _correct_and_real(target_out, logits):
    """(right real tokens, real tokens), float32 scalars, of an argmax prediction.

    tf.argmax, not keras.ops.argmax: for float inputs Keras adds a pass that
    tells -0.0 from 0.0 over every logit, which made the accuracy metric cost
    4× the argmax itself, about 7 % of a cpu-preset training step (measured).
    """
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    real = tf.not_equal(target_out, 0)
    right = tf.logical_and(tf.equal(predicted, tf.cast(target_out, tf.int32)), real)
    return tf.reduce_sum(tf.cast(right, tf.float32)), tf.reduce_sum(tf.cast(real, tf.float32))


@keras.saving.register_keras_serializable(package="seqlib")
def masked_accuracy(target_out, logits):
    """Share of real target tokens whose argmax prediction is right.

    Args:
        target_out: int Tensor (batch, t), 0 for padding.
        logits: float Tensor (batch, t, vocab).

    Returns:
        float scalar in [0, 1].
    """
    right, real = _correct_and_real(target_out, logits)
    return right / tf.maximum(real, 1.0)


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
        right, real = _correct_and_real(target_out, logits)
        self.correct.assign_add(right)
        self.total.assign_add(real)

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)
