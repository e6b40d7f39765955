"""Training metrics beyond loss and accuracy."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqlib")
class TargetTokens(keras.metrics.Metric):
    """Counts the real (non-padding) target tokens seen since the last reset.

    Divided by an epoch's time it gives training throughput in target tokens/s.
    """

    def __init__(self, name="target_tokens", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, target_out, logits, sample_weight=None):
        self.count.assign_add(ops.sum(ops.cast(ops.not_equal(target_out, 0), "float32")))

    def result(self):
        return ops.convert_to_tensor(self.count)
