"""Luong (multiplicative) attention over the encoder's sequence."""

import keras
from keras import ops

from seqlib.conventions import NEG_INF


@keras.saving.register_keras_serializable(package="seqlib")
class LuongAttention(keras.layers.Layer):
    """Scores every source position for every decoder position and averages the
    encoder outputs by those scores.

    score(t, s) = query_t · key_s, where key_s = W h_s is computed once per
    sentence by the encoder (a Dense layer), so decoding steps only do the dot
    products. Padded source positions get no weight.

    With `enabled=False` the layer returns zeros: the decoder then knows the
    source only through its initial state, the thought vector (the model of
    Cho et al. 2014), with every other layer unchanged, so the two compare fairly.
    """

    def __init__(self, enabled=True, **kwargs):
        super().__init__(**kwargs)
        self.enabled = enabled
        # Masks arrive from the embeddings; the source mask is recomputed from
        # `source_tokens` on purpose, so the layer also works on plain inputs.
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def call(self, query, keys, values, source_tokens):
        """
        Args:
            query: float Tensor (batch, t, units), the decoder GRU's outputs.
            keys: float Tensor (batch, s, units), projected encoder outputs.
            values: float Tensor (batch, s, 2 * units), the encoder outputs.
            source_tokens: int Tensor (batch, s), 0 where the source is padding.

        Returns:
            attended: float Tensor (batch, t, 2 * units), the attention output: the encoder
                outputs averaged by the weights.
            weights: float Tensor (batch, t, s), each row sums to 1 over real tokens.
        """
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        source_mask = ops.expand_dims(ops.not_equal(source_tokens, 0), 1)
        # float16 cannot hold NEG_INF; -6e4 is near its lowest.
        scores = ops.where(source_mask, scores, ops.cast(NEG_INF if scores.dtype == "float32" else -6e4, scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        attended = ops.matmul(weights, values)
        if not self.enabled:
            # Multiplied, not replaced, so every weight still gets a (zero) gradient.
            return attended * 0, weights * 0
        return attended, weights

    def get_config(self):
        return {**super().get_config(), "enabled": self.enabled}

    def compute_output_spec(self, query, keys, values, source_tokens):
        batch, t = query.shape[0], query.shape[1]
        attended = keras.KerasTensor((batch, t, values.shape[-1]), dtype=self.compute_dtype)
        weights = keras.KerasTensor((batch, t, keys.shape[1]), dtype=self.compute_dtype)
        return attended, weights
