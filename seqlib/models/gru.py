"""The encoder–attention–decoder model, built with the Keras functional API.

One set of layers serves two purposes:
- the training model `(context, target_in) -> logits` reads whole target
  sequences at once (teacher forcing);
- the inference models, built from the same layers (`GruLayers`): an encoder
  run once per sentence, and a decoder step that maps the previous token and
  state to next-token logits; `GruDecoder` serves them to the translator
  through the contract of seqlib.models.contract.

The GRUs keep Keras defaults (tanh/sigmoid, `reset_after=True`, no recurrent
dropout) so that on a GPU they run on the fused cuDNN kernel.
"""

import contextlib
import warnings
from dataclasses import dataclass

import keras
import tensorflow as tf

from seqlib.models.attention import LuongAttention
from seqlib.models.losses import MaskedAccuracy, SmoothedMaskedLoss, masked_loss


@contextlib.contextmanager
def one_token_mask_ignored():
    """Silences Keras's warning that the decoder's GRU cell drops the target
    embedding's padding mask: a decoder step reads one token, and the search
    loops mask finished rows themselves, so there is no mask to keep."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Layer '.*' \(of type GRUCell\) was passed an input with a mask")
        yield


def build_training_model(config, source_vocab_size, target_vocab_size):
    """Builds the training model.

    Args:
        config: TrainConfig (embedding_dim, units, dropout_rate, attention).
        source_vocab_size, target_vocab_size: ints, including padding and [UNK].

    Returns:
        keras.Model with inputs `context` int (batch, s) and `target_in` int (batch, t),
        output logits float32 (batch, t, target_vocab).
    """
    units = config.model.units
    context = keras.Input(shape=(None,), dtype="int32", name="context")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")

    # Encoder: the source sentence becomes a sequence of vectors and one state.
    source_vectors = keras.layers.Embedding(
        source_vocab_size, config.model.embedding_dim, mask_zero=True, name="source_embedding"
    )(context)
    source_vectors = keras.layers.Dropout(config.dropout_rate, name="source_dropout")(source_vectors)
    encoder_outputs, forward_state, backward_state = keras.layers.Bidirectional(
        keras.layers.GRU(units, return_sequences=True, return_state=True), name="encoder_gru"
    )(source_vectors)
    both_states = keras.layers.Concatenate(name="encoder_states")([forward_state, backward_state])
    # The decoder's first state: the "thought vector" summarising the whole source.
    encoder_state = keras.layers.Dense(units, activation="tanh", name="encoder_bridge")(both_states)
    attention_keys = keras.layers.Dense(units, use_bias=False, name="attention_keys")(encoder_outputs)

    # Decoder: reads the target shifted by one (teacher forcing), starting from
    # the encoder's state, and attends over the encoder's outputs at every step.
    target_vectors = keras.layers.Embedding(
        target_vocab_size, config.model.embedding_dim, mask_zero=True, name="target_embedding"
    )(target_in)
    target_vectors = keras.layers.Dropout(config.dropout_rate, name="target_dropout")(target_vectors)
    decoder_outputs, _ = keras.layers.GRU(units, return_sequences=True, return_state=True, name="decoder_gru")(
        target_vectors, initial_state=encoder_state
    )
    logits, _, _ = _attend_and_project(
        decoder_outputs, encoder_outputs, attention_keys, context, config, target_vocab_size=target_vocab_size
    )
    return keras.Model(inputs=[context, target_in], outputs=logits, name="translator")


def _attend_and_project(decoder_outputs, encoder_outputs, attention_keys, context, config, target_vocab_size=None, model=None):
    """Attention, the attention vector and the vocabulary projection.

    Creates the layers, or reuses `model`'s (looked up by name) for inference.
    Returns logits (batch, t, vocab), attention weights (batch, t, s) and the
    features the logits are projected from (batch, t, units).
    """

    def layer(name, make):
        return model.get_layer(name) if model is not None else make()

    attended, attention_weights = layer("attention", lambda: LuongAttention(enabled=config.model.attention, name="attention"))(
        decoder_outputs, attention_keys, encoder_outputs, context
    )
    combined = layer("attention_concat", lambda: keras.layers.Concatenate(name="attention_concat"))([decoder_outputs, attended])
    attention_vector = layer(
        "attention_vector", lambda: keras.layers.Dense(config.model.units, activation="tanh", name="attention_vector")
    )(combined)
    # Normalising before the vocabulary projection matters: without it this model
    # sat at the unigram loss for hundreds of steps (measured: 5.4 vs 2.5 after
    # 400 steps on 40k pairs), as the tanh outputs give the logits too little range.
    attention_vector = layer("output_norm", lambda: keras.layers.LayerNormalization(name="output_norm"))(attention_vector)
    attention_vector = layer("output_dropout", lambda: keras.layers.Dropout(config.dropout_rate, name="output_dropout"))(
        attention_vector
    )
    # float32 logits even under mixed precision: the softmax needs the range.
    logits = layer("logits", lambda: keras.layers.Dense(target_vocab_size, dtype="float32", name="logits"))(attention_vector)
    return logits, attention_weights, attention_vector


def compile_model(model, config, extra_metrics=()):
    """Compiles a training model with Adam, the run's loss and masked accuracy; returns it."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=5.0),
        # The plain function when there is no smoothing, as models saved before it had.
        loss=SmoothedMaskedLoss(config.label_smoothing) if config.label_smoothing else masked_loss,
        metrics=[MaskedAccuracy(), *extra_metrics],
        jit_compile=config.jit_compile,
    )
    # The optimizer's slots made now, not by the first training step: variables made
    # while tf.function traces make it trace the whole step a second time (on `tiny`,
    # about 8 s of CPU each time a model starts training).
    model.optimizer.build(model.trainable_variables)
    return model


@dataclass
class InferenceModels:
    """The pieces serving needs, sharing weights with the training model.

    encoder: context int (batch, s) -> (encoder_outputs (batch, s, 2*units),
        attention_keys (batch, s, units), state (batch, units)).
    decoder_step: (token int (batch,), state (batch, units), encoder_outputs,
        attention_keys, context) -> (logits (batch, vocab), state (batch, units),
        attention_weights (batch, s)).
    decoder_features: the same step up to the vocabulary projection: its first
        output is the features (batch, units) that the `logits` layer projects,
        so a translator can run that projection its own way (see Translator).
    """

    encoder: keras.Model
    decoder_step: keras.Model
    decoder_features: keras.Model


@dataclass(frozen=True)
class GruLayers:
    """The trained model's layers that inference reuses, looked up by name here and nowhere else."""

    source_embedding: keras.layers.Embedding
    encoder_gru: keras.layers.Bidirectional
    encoder_states: keras.layers.Concatenate
    encoder_bridge: keras.layers.Dense
    attention_keys: keras.layers.Dense
    target_embedding: keras.layers.Embedding
    decoder_gru: keras.layers.GRU
    logits: keras.layers.Dense

    @classmethod
    def of(cls, model):
        return cls(**{field: model.get_layer(field) for field in cls.__dataclass_fields__})

    @property
    def units(self):
        return self.decoder_gru.units


def build_inference_models(training_model, config):
    """Builds the encoder and the one-step decoder from the training model's layers."""
    units = config.model.units
    layers = GruLayers.of(training_model)
    context = keras.Input(shape=(None,), dtype="int32", name="context")
    source_vectors = layers.source_embedding(context)
    encoder_outputs, forward_state, backward_state = layers.encoder_gru(source_vectors)
    both_states = layers.encoder_states([forward_state, backward_state])
    encoder_state = layers.encoder_bridge(both_states)
    attention_keys = layers.attention_keys(encoder_outputs)
    encoder = keras.Model(context, [encoder_outputs, attention_keys, encoder_state], name="encoder")

    token = keras.Input(shape=(), dtype="int32", name="token")
    state = keras.Input(shape=(units,), name="state")
    step_encoder_outputs = keras.Input(shape=(None, 2 * units), name="encoder_outputs")
    step_attention_keys = keras.Input(shape=(None, units), name="attention_keys")
    step_context = keras.Input(shape=(None,), dtype="int32", name="context")
    token_vector = layers.target_embedding(token)
    # One step runs the GRU's cell directly: the GRU layer would wrap every step
    # in a loop of its own, which costs more than the step on a CPU.
    with one_token_mask_ignored():
        new_state, _ = layers.decoder_gru.cell(token_vector, [state])
    logits, attention_weights, features = _attend_and_project(
        keras.ops.expand_dims(new_state, 1), step_encoder_outputs, step_attention_keys, step_context, config, model=training_model
    )
    step_inputs = [token, state, step_encoder_outputs, step_attention_keys, step_context]
    decoder_step = keras.Model(step_inputs, [logits[:, 0, :], new_state, attention_weights[:, 0, :]], name="decoder_step")
    decoder_features = keras.Model(
        step_inputs, [features[:, 0, :], new_state, attention_weights[:, 0, :]], name="decoder_features"
    )
    return InferenceModels(encoder=encoder, decoder_step=decoder_step, decoder_features=decoder_features)


class GruDecoder(tf.Module):
    """The GRU model's decoder, meeting the contract of seqlib.models.contract.

    State (a dict, the batch first): `hidden` float (rows, units), the decoder
    GRU's state; `encoder_outputs` (rows, s, 2 * units); `attention_keys`
    (rows, s, units); `context` int32 (rows, s).
    """

    # The same for every beam of a sentence: beam search does not reorder them.
    fixed_keys = ("encoder_outputs", "attention_keys", "context")

    def __init__(self, training_model, config):
        super().__init__(name="gru_decoder")
        models = build_inference_models(training_model, config)
        # The step up to the vocabulary projection, which the translator runs itself.
        self.encoder, self.decoder_features = models.encoder, models.decoder_features
        self.projection = GruLayers.of(training_model).logits

    def encode(self, context, max_length=None):
        """context int32 (rows, s) -> the start state (see the class); a GRU's state
        does not grow, so max_length (see seqlib.models.registry) changes nothing."""
        encoder_outputs, attention_keys, hidden = self.encoder(context, training=False)
        return {"hidden": hidden, "encoder_outputs": encoder_outputs, "attention_keys": attention_keys, "context": context}

    def next_features(self, tokens, state):
        """tokens int32 (rows,) -> (features (rows, units), the next state, attention
        weights float32 (rows, s))."""
        with one_token_mask_ignored():
            features, hidden, attention = self.decoder_features(
                [tokens, state["hidden"], state["encoder_outputs"], state["attention_keys"], state["context"]], training=False
            )
        return features, {**state, "hidden": hidden}, tf.cast(attention, tf.float32)


def gru_layers(model):
    """Every GRU layer of the model, the encoder's two directions included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
        elif isinstance(layer, keras.layers.GRU):
            found.append(layer)
    return found


def cudnn_eligible(model):
    """{GRU name: True if its arguments let Keras use the fused cuDNN kernel on a GPU}.

    The kernel needs tanh/sigmoid activations, reset_after=True, a bias, no
    unrolling and no recurrent dropout; Keras falls back silently otherwise.
    """
    from keras.src.backend.tensorflow.rnn import _do_gru_arguments_support_cudnn

    return {
        layer.name: bool(
            _do_gru_arguments_support_cudnn(
                activation=layer.cell.activation,
                recurrent_activation=layer.cell.recurrent_activation,
                unroll=layer.unroll,
                use_bias=layer.cell.use_bias,
                reset_after=layer.cell.reset_after,
            )
            and not layer.cell.recurrent_dropout
            and layer.use_cudnn in ("auto", True)
        )
        for layer in gru_layers(model)
    }


def build_decoder(training_model, config, max_length):
    """The registry's hook: the GRU decoder sharing the training model's layers (its state
    does not grow with the output, so max_length is not needed)."""
    return GruDecoder(training_model, config)


def layer_sizes(training_model):
    """The registry's hook: (source ids, target ids, units) read from the model's layers."""
    layers = GruLayers.of(training_model)
    return layers.source_embedding.input_dim, layers.logits.units, layers.units
