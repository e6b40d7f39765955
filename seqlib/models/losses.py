"""Masked loss and accuracy: padding (id 0) counts in neither numerator nor denominator."""

import keras
import tensorflow as tf
from keras import ops


def token_cross_entropy(target_out, logits, label_smoothing=0.0):
    """-log softmax(logits)[target] for every position, with its gradient.

    With label_smoothing ε the target is (1 - ε) on the right token and ε spread
    evenly over the vocabulary (Szegedy et al. 2016; Vaswani et al. 2017 use 0.1):
    the loss is (1 - ε) (-log p[target]) + ε mean over the vocabulary of -log p,
    so the model is never pushed to certainty on one of several right words.

    The same numbers as tf.nn.sparse_softmax_cross_entropy_with_logits, about
    twice as fast on an x86 CPU with oneDNN, TensorFlow's default there
    (measured: 60 vs 120 ms forward and backward for 256 × 10 × 8,000 logits,
    a tenth of a cpu-preset training step): that kernel is plain Eigen, while
    the softmax here runs on oneDNN, and the gradient, softmax minus one-hot,
    reuses the softmax. Elsewhere (ARM, oneDNN off) the gain is unmeasured.

    Args:
        target_out: int Tensor (batch, t).
        logits: float32 Tensor (batch, t, vocab).
        label_smoothing: ε, a Python float in [0, 1).

    Returns:
        float32 Tensor (batch, t).
    """
    target_out = tf.cast(target_out, tf.int32)
    on_target = 1.0 - label_smoothing

    @tf.custom_gradient
    def cross_entropy(logits):
        probabilities = tf.nn.softmax(logits)
        # log Σ exp(logits) = max logit − log(largest probability); the largest
        # probability is at least 1 / vocab, so its log cannot underflow.
        log_normalizer = tf.reduce_max(logits, axis=-1) - tf.math.log(tf.reduce_max(probabilities, axis=-1))
        losses = log_normalizer - tf.gather(logits, target_out, batch_dims=2)
        if label_smoothing:
            # -log p averaged over the vocabulary is log_normalizer - mean(logits).
            spread = log_normalizer - tf.reduce_mean(logits, axis=-1)
            losses = on_target * losses + label_smoothing * spread

        def gradient(upstream):
            # upstream (batch, t) × (softmax − smoothed one_hot(target)), the one-hot
            # subtracted at one entry a row instead of built vocabulary-wide.
            vocab = tf.shape(logits)[-1]
            probabilities_minus_spread = probabilities
            if label_smoothing:
                probabilities_minus_spread = probabilities - label_smoothing / tf.cast(vocab, probabilities.dtype)
            scaled = tf.reshape(probabilities_minus_spread * upstream[..., tf.newaxis], [-1, vocab])
            rows = tf.range(tf.shape(scaled)[0])
            targets = tf.stack([rows, tf.reshape(target_out, [-1])], axis=1)
            scaled = tf.tensor_scatter_nd_sub(scaled, targets, on_target * tf.reshape(upstream, [-1]))
            return tf.reshape(scaled, tf.shape(logits))

        return losses, gradient

    return cross_entropy(logits)


@keras.saving.register_keras_serializable(package="seqlib")
def masked_loss(target_out, logits, label_smoothing=0.0):
    """Mean cross-entropy over real (non-padding) target tokens.

    Args:
        target_out: int Tensor (batch, t), 0 for padding.
        logits: float Tensor (batch, t, vocab).
        label_smoothing: ε, see token_cross_entropy; 0 is plain cross-entropy.

    Returns:
        float scalar. For an untrained model it is about log(vocab).
    """
    logits = ops.cast(logits, "float32")
    # Accelerators keep the fused kernel, which is fast there (and measured).
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        if label_smoothing:
            one_hot = ops.one_hot(target_out, ops.shape(logits)[-1])
            losses = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=label_smoothing)
        else:
            losses = keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=True)
    else:
        losses = token_cross_entropy(target_out, logits, label_smoothing)
    mask = ops.cast(ops.not_equal(target_out, 0), losses.dtype)
    return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="seqlib")
class SmoothedMaskedLoss(keras.losses.Loss):
    """masked_loss with label smoothing, as a Keras loss that keeps its ε in the saved model."""

    def __init__(self, label_smoothing=0.0, name="masked_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, target_out, logits):
        """target_out int (batch, t), logits float (batch, t, vocab) -> float scalar."""
        return masked_loss(target_out, logits, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


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
