"""The transformer encoder–decoder (Vaswani et al. 2017), built with the Keras functional API.

The same pipeline, vocabularies, search and serving as the GRU model; only the
blocks differ:
- the encoder: token embeddings plus a sinusoidal position signal, then N
  pre-norm blocks of self-attention (padding hidden) and a feed-forward layer;
- the decoder: the same embeddings for the target, then N blocks of causal
  self-attention (no position sees a later one), cross-attention over the
  encoder's outputs, and a feed-forward layer; a dense layer gives the logits.

Pre-norm (LayerNorm before each sub-layer, a final LayerNorm after the stack)
trains stably without the long warm-up the original post-norm layout needs,
which matters for a 20-minute budget.

Incremental decoding (`TransformerDecoder.next_features`) keeps every decoder
layer's self-attention keys and values in the state, so one step projects one
position, not the whole prefix again; the cross-attention keys and values
are computed once per sentence in `encode` (see seqlib.models.cached_attention).
"""

import math
from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import ops

from seqlib.models.cached_attention import CachedMultiHeadAttention

# Wavelengths of the position signal run from 2π to 10,000·2π (Vaswani et al. 2017, §3.5).
MAX_WAVELENGTH = 10000.0


def position_signal(positions, units):
    """The fixed sinusoidal position encoding.

    Args:
        positions: int Tensor (batch, t).
        units: int, even.

    Returns:
        float32 Tensor (batch, t, units): sines in the first half, cosines in the second.
    """
    frequencies = ops.exp(-math.log(MAX_WAVELENGTH) * ops.arange(0, units // 2, dtype="float32") / (units // 2))
    angles = ops.cast(positions, "float32")[..., None] * frequencies
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


@keras.saving.register_keras_serializable(package="seqlib")
class PositionalEmbedding(keras.layers.Layer):
    """Token embeddings scaled by √units plus the sinusoidal position signal.

    A computed signal instead of learned positions: it needs no weights and
    exists for every position, also those longer than any training sentence.

    With `output_bias`, the same embeddings also project the decoder's features onto
    the vocabulary (`reverse=True`): tied embeddings (Press & Wolf 2017), one matrix
    where there were two, so the rare tokens' rows learn from both ends.
    """

    def __init__(self, vocab_size, units, output_bias=False, **kwargs):
        super().__init__(**kwargs)
        if units % 2:
            raise ValueError(f"a transformer's units must be even (sines and cosines), got {units}")
        self.vocab_size = vocab_size
        self.units = units
        self.has_output_bias = output_bias
        self.token_embedding = keras.layers.Embedding(vocab_size, units, name="token_embedding")

    def build(self, tokens_shape, positions_shape=None):
        self.token_embedding.build(tokens_shape)
        if self.has_output_bias:
            self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")

    def call(self, tokens, positions=None, reverse=False):
        """tokens int (batch, t), positions int (batch, t) (default 0..t-1) -> float (batch, t, units).

        reverse=True: tokens are features float (batch, t, units) -> logits float32 (batch, t, vocab).
        """
        if reverse:
            # float32 logits even under mixed precision: the softmax needs the range.
            embeddings = ops.cast(self.token_embedding.embeddings, "float32")
            return ops.matmul(ops.cast(tokens, "float32"), ops.transpose(embeddings)) + self.output_bias
        if positions is None:
            positions = ops.broadcast_to(ops.arange(ops.shape(tokens)[1]), ops.shape(tokens))
        vectors = self.token_embedding(tokens) * ops.cast(math.sqrt(self.units), self.compute_dtype)
        return vectors + ops.cast(position_signal(positions, self.units), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "units": self.units, "output_bias": self.has_output_bias}


class TiedProjection:
    """The vocabulary projection of a model whose target embedding is tied to it, with
    the two things of a Dense layer the translator reads: `kernel` float (units, vocab)
    and `bias` float (vocab,), and its `units` (the vocabulary size)."""

    def __init__(self, embedding):
        self.embedding = embedding

    @property
    def kernel(self):
        return ops.transpose(self.embedding.token_embedding.embeddings)

    @property
    def bias(self):
        return self.embedding.output_bias

    @property
    def units(self):
        return self.embedding.vocab_size


def _source_visible(context, queries):
    """bool (batch, t, s): every query position may see every real source token."""
    real = ops.not_equal(context, 0)[:, None, :]
    return ops.logical_and(real, ops.ones((ops.shape(queries)[0], ops.shape(queries)[1], 1), dtype="bool"))


@keras.saving.register_keras_serializable(package="seqlib")
class FeedForward(keras.layers.Layer):
    """Two dense layers with a ReLU between, applied to each position alone."""

    def __init__(self, units, feed_forward_dim, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.units, self.feed_forward_dim, self.dropout_rate = units, feed_forward_dim, dropout_rate
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.expand = keras.layers.Dense(feed_forward_dim, activation="relu", name="expand")
        self.project = keras.layers.Dense(units, name="project")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.expand.build(input_shape)
        self.project.build((*input_shape[:-1], self.feed_forward_dim))

    def call(self, x, training=None):
        """x float (batch, t, units) -> x plus the feed-forward of its normalised self."""
        return x + self.dropout(self.project(self.expand(self.norm(x))), training=training)

    def get_config(self):
        config = {"units": self.units, "feed_forward_dim": self.feed_forward_dim, "dropout_rate": self.dropout_rate}
        return {**super().get_config(), **config}


class _Block(keras.layers.Layer):
    """What encoder and decoder blocks share: their sizes and their config."""

    def __init__(self, units, num_heads, feed_forward_dim, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        if units % num_heads:
            raise ValueError(f"units ({units}) must be a multiple of num_heads ({num_heads})")
        self.units, self.num_heads = units, num_heads
        self.feed_forward_dim, self.dropout_rate = feed_forward_dim, dropout_rate
        self.feed_forward = FeedForward(units, feed_forward_dim, dropout_rate, name="feed_forward")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def _attention(self, name, layer_class=keras.layers.MultiHeadAttention):
        return layer_class(self.num_heads, self.units // self.num_heads, name=name)

    def get_config(self):
        sizes = {
            "units": self.units,
            "num_heads": self.num_heads,
            "feed_forward_dim": self.feed_forward_dim,
            "dropout_rate": self.dropout_rate,
        }
        return {**super().get_config(), **sizes}


@keras.saving.register_keras_serializable(package="seqlib")
class TransformerEncoderBlock(_Block):
    """Self-attention over the source (padding hidden), then a feed-forward layer."""

    def __init__(self, units, num_heads, feed_forward_dim, dropout_rate, **kwargs):
        super().__init__(units, num_heads, feed_forward_dim, dropout_rate, **kwargs)
        self.attention_norm = keras.layers.LayerNormalization(name="attention_norm")
        self.self_attention = self._attention("self_attention")

    def build(self, x_shape, context_shape):
        self.attention_norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)
        self.feed_forward.build(x_shape)

    def call(self, x, context, training=None):
        """x float (batch, s, units), context int (batch, s) source ids -> float (batch, s, units)."""
        normed = self.attention_norm(x)
        attended = self.self_attention(normed, normed, attention_mask=_source_visible(context, x), training=training)
        return self.feed_forward(x + self.dropout(attended, training=training), training=training)


@keras.saving.register_keras_serializable(package="seqlib")
class TransformerDecoderBlock(_Block):
    """Causal self-attention, cross-attention over the encoder's outputs, feed-forward.

    `call` reads whole target sequences (training, teacher forcing);
    `call_with_cache` reads one position and the key/value cache of the positions
    before it (decoding).
    """

    def __init__(self, units, num_heads, feed_forward_dim, dropout_rate, **kwargs):
        super().__init__(units, num_heads, feed_forward_dim, dropout_rate, **kwargs)
        self.self_attention_norm = keras.layers.LayerNormalization(name="self_attention_norm")
        self.self_attention = self._attention("self_attention", CachedMultiHeadAttention)
        self.cross_attention_norm = keras.layers.LayerNormalization(name="cross_attention_norm")
        self.cross_attention = self._attention("cross_attention", CachedMultiHeadAttention)

    def build(self, x_shape, memory_shape, context_shape):
        self.self_attention_norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)
        self.cross_attention_norm.build(x_shape)
        self.cross_attention.build(x_shape, memory_shape)
        self.feed_forward.build(x_shape)

    def call(self, x, memory, context, training=None, return_attention=False):
        """
        Args:
            x: float (batch, t, units), the target so far (shifted right: teacher forcing).
            memory: float (batch, s, units), the encoder's outputs.
            context: int (batch, s), the source ids (0 is padding).
            return_attention: also return the cross-attention weights.

        Returns:
            float (batch, t, units); with return_attention, and weights float (batch, heads, t, s).
        """
        normed = self.self_attention_norm(x)
        # The causal mask: position i sees positions 0..i only, as it will when decoding.
        attended = self.self_attention(normed, normed, use_causal_mask=True, training=training)
        x = x + self.dropout(attended, training=training)
        attended, weights = self.cross_attention(
            self.cross_attention_norm(x),
            memory,
            attention_mask=_source_visible(context, x),
            return_attention_scores=True,
            training=training,
        )
        x = self.feed_forward(x + self.dropout(attended, training=training), training=training)
        return (x, weights) if return_attention else x

    def cross_key_value(self, memory):
        """The cross-attention's keys and values of a sentence, computed once: float (batch, s, heads, head_dim) each."""
        return self.cross_attention.project_key_value(memory)

    def call_with_cache(self, x, position, cache, cross_key, cross_value, source_visible):
        """One decoding position with a key/value cache.

        Args:
            x: float (rows, 1, units), the embedded previous token.
            position: int32 (rows,), its position (0 for the start token).
            cache: (keys, values), float (rows, max_length, heads, head_dim) each:
                the self-attention keys and values of positions < position.
            cross_key, cross_value: from `cross_key_value`.
            source_visible: bool (rows, s), True at real source tokens (not padding).

        Returns:
            x float (rows, 1, units), the updated cache, and the cross-attention
            weights float32 (rows, heads, 1, s).
        """
        normed = self.self_attention_norm(x)
        attended, cache = self.self_attention(normed, normed, cache=cache, cache_update_index=position)
        x = x + attended
        attended, weights, _ = self.cross_attention(
            self.cross_attention_norm(x),
            None,
            attention_mask=source_visible,
            return_attention_scores=True,
            cache=(cross_key, cross_value),
        )
        x = self.feed_forward(x + attended)
        return x, cache, weights


@dataclass(frozen=True)
class TransformerLayers:
    """The trained model's layers, looked up by name here and nowhere else."""

    source_embedding: PositionalEmbedding
    encoder_blocks: list
    encoder_norm: keras.layers.LayerNormalization
    target_embedding: PositionalEmbedding
    decoder_blocks: list
    decoder_norm: keras.layers.LayerNormalization
    logits: keras.layers.Dense | TiedProjection

    @classmethod
    def of(cls, model):
        blocks = [layer for layer in model.layers if isinstance(layer, TransformerEncoderBlock)]
        target_embedding = model.get_layer("target_embedding")
        tied = target_embedding.has_output_bias
        return cls(
            source_embedding=model.get_layer("source_embedding"),
            encoder_blocks=blocks,
            encoder_norm=model.get_layer("encoder_norm"),
            target_embedding=target_embedding,
            decoder_blocks=[layer for layer in model.layers if isinstance(layer, TransformerDecoderBlock)],
            decoder_norm=model.get_layer("decoder_norm"),
            logits=TiedProjection(target_embedding) if tied else model.get_layer("logits"),
        )

    @property
    def units(self):
        return self.source_embedding.units


def build_training_model(config, source_vocab_size, target_vocab_size):
    """Builds the training model.

    Args:
        config: TrainConfig (units, num_layers, num_heads, feed_forward_dim, tie_embeddings, dropout_rate).
        source_vocab_size, target_vocab_size: ints, including padding and [UNK].

    Returns:
        keras.Model with inputs `context` int (batch, s) and `target_in` int (batch, t),
        output logits float32 (batch, t, target_vocab).
    """
    sizes = {
        "units": config.model.units,
        "num_heads": config.model.num_heads,
        "feed_forward_dim": config.model.feed_forward_dim,
        "dropout_rate": config.dropout_rate,
    }
    context = keras.Input(shape=(None,), dtype="int32", name="context")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")

    # Encoder: every source position attends to every other real one.
    x = PositionalEmbedding(source_vocab_size, config.model.units, name="source_embedding")(context)
    x = keras.layers.Dropout(config.dropout_rate, name="source_dropout")(x)
    for index in range(config.model.num_layers):
        x = TransformerEncoderBlock(**sizes, name=f"encoder_block_{index}")(x, context)
    memory = keras.layers.LayerNormalization(name="encoder_norm")(x)

    # Decoder: reads the target shifted by one (teacher forcing), each position
    # only its predecessors, and attends over the encoder's outputs.
    tied = config.model.tie_embeddings
    target_embedding = PositionalEmbedding(target_vocab_size, config.model.units, output_bias=tied, name="target_embedding")
    y = keras.layers.Dropout(config.dropout_rate, name="target_dropout")(target_embedding(target_in))
    for index in range(config.model.num_layers):
        y = TransformerDecoderBlock(**sizes, name=f"decoder_block_{index}")(y, memory, context)
    y = keras.layers.LayerNormalization(name="decoder_norm")(y)
    if tied:
        logits = target_embedding(y, reverse=True)
    else:
        # float32 logits even under mixed precision: the softmax needs the range.
        logits = keras.layers.Dense(target_vocab_size, dtype="float32", name="logits")(y)
    return keras.Model(inputs=[context, target_in], outputs=logits, name="transformer")


class TransformerDecoder(tf.Module):
    """The transformer's decoder, meeting the contract of seqlib.models.contract.

    State (a dict, the batch first): `context` (rows, s); `position` (rows,);
    per decoder block i, `keys_i`/`values_i` (rows, max_length, heads, head_dim),
    the self-attention cache, and `cross_keys_i`/`cross_values_i` (rows, s,
    heads, head_dim).

    Args:
        training_model: the model from build_training_model (its layers are shared).
        max_length: the most tokens a sentence may generate (the cache's longest length).
    """

    def __init__(self, training_model, max_length):
        super().__init__(name="transformer_decoder")
        self.layers = TransformerLayers.of(training_model)
        self.model = training_model  # tracked, so a SavedModel holds the weights
        self.projection = self.layers.logits
        self.max_length = max_length
        blocks = len(self.layers.decoder_blocks)
        self.fixed_keys = ("context", *(f"cross_{kind}_{i}" for i in range(blocks) for kind in ("keys", "values")))

    def encode(self, context, max_length=None):
        """context int32 (rows, s) -> the start state (see the class).

        max_length: int32 scalar, the most steps the caller's loop takes; the
        cache gets that many positions (default: the `max_length` given at
        construction, a constant, as XLA needs). A shorter cache is less to
        attend over and, in beam search, less to reorder at every step.
        """
        layers = self.layers
        x = layers.source_embedding(context, training=False)
        for block in layers.encoder_blocks:
            x = block(x, context, training=False)
        memory = layers.encoder_norm(x)
        rows = ops.shape(context)[0]
        state = {"context": context, "position": ops.zeros((rows,), "int32")}
        for index, block in enumerate(layers.decoder_blocks):
            state[f"cross_keys_{index}"], state[f"cross_values_{index}"] = block.cross_key_value(memory)
            heads = block.num_heads
            length = self.max_length if max_length is None else max_length
            empty = ops.zeros((rows, length, heads, block.units // heads), memory.dtype)
            state[f"keys_{index}"], state[f"values_{index}"] = empty, empty
        return state

    def next_features(self, tokens, state):
        """tokens int32 (rows,) -> (features (rows, units), the next state, attention
        float32 (rows, s)): the attention is the last block's cross-attention averaged
        over heads, for plots."""
        layers = self.layers
        position = state["position"]
        x = layers.target_embedding(tokens[:, None], positions=position[:, None], training=False)
        state = dict(state)
        source_visible = ops.not_equal(state["context"], 0)  # once a step, for every block
        for index, block in enumerate(layers.decoder_blocks):
            x, (state[f"keys_{index}"], state[f"values_{index}"]), weights = block.call_with_cache(
                x,
                position,
                (state[f"keys_{index}"], state[f"values_{index}"]),
                state[f"cross_keys_{index}"],
                state[f"cross_values_{index}"],
                source_visible,
            )
        state["position"] = position + 1
        return layers.decoder_norm(x)[:, 0, :], state, ops.mean(weights[:, :, 0, :], axis=1)


def build_decoder(training_model, config, max_length):
    """The registry's hook: the cached decoder sharing the training model's layers.

    max_length: the most tokens a sentence may generate (the key/value cache's length).
    """
    return TransformerDecoder(training_model, max_length)


def layer_sizes(training_model):
    """The registry's hook: (source ids, target ids, units) read from the model's layers."""
    layers = TransformerLayers.of(training_model)
    return layers.source_embedding.vocab_size, layers.logits.units, layers.units
