"""Multi-head attention that can also decode one position at a time from a key/value cache.

Training reads whole sequences and needs plain `keras.layers.MultiHeadAttention`;
decoding reads one new position a step, and projecting the whole prefix again
at every step would cost t times the work. `CachedMultiHeadAttention` is that
layer with a cache: the keys and values of the positions already decoded are
kept (self-attention) or computed once a sentence (cross-attention), and only
the new position is projected. keras-hub's `CachedMultiHeadAttention` has the
same shape.
"""

import keras
from keras import ops

from seqlib.conventions import NEG_INF


def attend(query, key, value, visible):
    """Scaled dot-product attention over projected heads.

    Args:
        query: float Tensor (batch, t, heads, head_dim).
        key, value: float Tensors (batch, s, heads, head_dim).
        visible: bool Tensor (batch, s) or (batch, t, s): where the query may look;
            None: everywhere.

    Returns:
        attended: float Tensor (batch, t, heads, head_dim).
        weights: float32 Tensor (batch, heads, t, s).
    """
    head_dim = ops.shape(query)[-1]
    scores = ops.einsum("bthd,bshd->bhts", query, key) / ops.sqrt(ops.cast(head_dim, query.dtype))
    # The softmax in float32 even under mixed precision: NEG_INF needs the range.
    scores = ops.cast(scores, "float32")
    if visible is not None:
        visible = visible[:, None, None, :] if len(visible.shape) == 2 else visible[:, None, :, :]
        scores = ops.where(visible, scores, NEG_INF)
    weights = ops.softmax(scores, axis=-1)
    return ops.einsum("bhts,bshd->bthd", ops.cast(weights, value.dtype), value), weights


@keras.saving.register_keras_serializable(package="seqlib")
class CachedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """keras.layers.MultiHeadAttention, plus decoding from a key/value cache.

    Its weights and config are MultiHeadAttention's, so a model saved with the
    plain layer loads into this one. Without `cache` it is the plain layer.
    """

    def project_key_value(self, value, key=None):
        """The cache of a whole sequence, for cross-attention (computed once a sentence).

        Args:
            value: float Tensor (batch, s, units); key: the same, default value.

        Returns:
            (keys, values): float Tensors (batch, s, heads, head_dim) each.
        """
        return self._key_dense(value if key is None else key), self._value_dense(value)

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
    ):
        """MultiHeadAttention.call, or with `cache` one decoding step.

        With cache (keys, values), float Tensors (batch, cache_length, heads, head_dim):
        - cache_update_index int32 (batch,) (self-attention): the query's own key and
          value (projected from `key`/`value`) are written at that position, and the
          query sees the positions up to it; attention_mask is not used;
        - cache_update_index None (cross-attention): the cache is `project_key_value`
          of the source, left as it is, so `value` is not read (None will do);
          attention_mask bool (batch, s) or (batch, t, s) says which of its
          positions the query may see (None: all).

        Returns (with cache):
            attended float (batch, t, units), [weights float32 (batch, heads, t, s)
            if return_attention_scores,] and the cache.
        """
        if cache is None:
            return super().call(
                query,
                value,
                key=key,
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                use_causal_mask=use_causal_mask,
            )
        keys, values = cache
        if cache_update_index is not None:
            key = value if key is None else key
            slot = ops.cast(ops.one_hot(cache_update_index, ops.shape(keys)[1]), keys.dtype)[:, :, None, None]
            # Adding into the empty slot writes this position's key and value in place.
            keys = keys + slot * self._key_dense(key)
            values = values + slot * self._value_dense(value)
            attention_mask = ops.arange(ops.shape(keys)[1])[None, :] <= cache_update_index[:, None]
        attended, weights = attend(self._query_dense(query), keys, values, attention_mask)
        attended = self._output_dense(attended)
        return (attended, weights, (keys, values)) if return_attention_scores else (attended, (keys, values))
