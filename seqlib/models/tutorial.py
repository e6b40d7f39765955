"""The TensorFlow "Neural machine translation with attention" tutorial's model, as
its published description gives it: the in-run baseline of `seqlib bench`.

Written from the tutorial's text (tensorflow.org/text/tutorials/nmt_with_attention),
not copied, and kept as the tutorial has it even where seqlib chose otherwise, so
that the bench compares against what a learner would otherwise build:

- word-level vocabularies of 5,000 tokens, from its own standardisation (NFKD,
  lower case, letters and `.?!,¿` only, punctuation split off, [START]/[END]);
- a 256-unit bidirectional GRU encoder whose two directions are summed;
- one-head cross-attention (`MultiHeadAttention`, residual + LayerNormalization);
- a 256-unit GRU decoder starting from a zero state, and a dense projection;
- Adam with Keras defaults, batch 64, masked cross-entropy, masked accuracy and loss as metrics;
- greedy decoding in one tf.function: a loop over `tf.range(max_length)` (a
  tf.while_loop after autograph) that stops when every sentence has ended,
  re-running the decoder on one token with its GRU state each step.

It lives in the package (not in bench/) because `seqlib bench` must find it
wherever seqlib is installed.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

UNITS = 256
VOCABULARY_SIZE = 5000
BATCH_SIZE = 64


def standardize(text):
    """The tutorial's text standardisation. text: string Tensor (batch,)."""
    text = tf_text.normalize_utf8(text, "NFKD")
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, "[^ a-z.?!,¿]", "")
    text = tf.strings.regex_replace(text, "[.?!,¿]", r" \0 ")
    text = tf.strings.strip(text)
    return tf.strings.join(["[START]", text, "[END]"], separator=" ")


def make_vectorizers(english, french):
    """Two TextVectorization layers adapted on the training sentences (lists of str)."""
    vectorizers = []
    for sentences in (english, french):
        vectorizer = keras.layers.TextVectorization(max_tokens=VOCABULARY_SIZE, standardize=standardize, ragged=True)
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(sentences)).batch(1024))
        vectorizers.append(vectorizer)
    return vectorizers


class CrossAttention(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(key_dim=units, num_heads=1)
        self.norm = keras.layers.LayerNormalization()

    def call(self, x, context):
        attended, scores = self.attention(query=x, value=context, return_attention_scores=True)
        # Kept for its plots, as the tutorial does: (batch, t, s), averaged over heads.
        self.last_attention_weights = tf.reduce_mean(scores, axis=1)
        return self.norm(x + attended)


class TutorialTranslator(keras.Model):
    """(context (batch, s), target_in (batch, t)) -> logits (batch, t, vocab)."""

    def __init__(self, source_vocab_size, target_vocab_size, units=UNITS):
        super().__init__()
        self.source_embedding = keras.layers.Embedding(source_vocab_size, units, mask_zero=True)
        self.encoder_rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, recurrent_initializer="glorot_uniform"), merge_mode="sum"
        )
        self.target_embedding = keras.layers.Embedding(target_vocab_size, units, mask_zero=True)
        self.decoder_rnn = keras.layers.GRU(
            units, return_sequences=True, return_state=True, recurrent_initializer="glorot_uniform"
        )
        self.attention = CrossAttention(units)
        self.output_layer = keras.layers.Dense(target_vocab_size)
        self.units = units

    def encode(self, context):
        """context: int (batch, s) -> encoded (batch, s, units)."""
        return self.encoder_rnn(self.source_embedding(context))

    def decode(self, encoded, tokens, state=None):
        """tokens: int (batch, t); state: (batch, units) or None -> (logits (batch, t, vocab), state)."""
        vectors = self.target_embedding(tokens)
        vectors, state = self.decoder_rnn(vectors, initial_state=state)
        vectors = self.attention(vectors, encoded)
        return self.output_layer(vectors), state

    def call(self, inputs):
        context, target_in = inputs
        logits, _ = self.decode(self.encode(context), target_in)
        return logits


def masked_loss(target_out, logits):
    losses = keras.losses.sparse_categorical_crossentropy(target_out, logits, from_logits=True)
    mask = tf.cast(target_out != 0, losses.dtype)
    return tf.reduce_sum(losses * mask) / tf.reduce_sum(mask)


def masked_accuracy(target_out, logits):
    predicted = tf.cast(tf.argmax(logits, axis=-1), target_out.dtype)
    mask = tf.cast(target_out != 0, tf.float32)
    return tf.reduce_sum(tf.cast(predicted == target_out, tf.float32) * mask) / tf.reduce_sum(mask)


def build(source_vectorizer, target_vectorizer):
    """The model compiled as the tutorial compiles it (its loss also as a metric)."""
    model = TutorialTranslator(source_vectorizer.vocabulary_size(), target_vectorizer.vocabulary_size())
    model.compile(optimizer="adam", loss=masked_loss, metrics=[masked_accuracy, masked_loss])
    return model


class TutorialGreedy(tf.Module):
    """Text in, text out: the tutorial's greedy translation in one tf.function."""

    def __init__(self, model, source_vectorizer, target_vectorizer, max_length=50):
        super().__init__()
        self.model = model
        self.source_vectorizer = source_vectorizer
        vocabulary = target_vectorizer.get_vocabulary()
        self.words = tf.constant(vocabulary)
        self.start_id, self.end_id = vocabulary.index("[START]"), vocabulary.index("[END]")
        self.max_length = max_length

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def translate(self, text):
        """text: string (batch,) -> {"translation": string (batch,), "length": int (batch,)}."""
        context = self.source_vectorizer(text).to_tensor()
        encoded = self.model.encode(context)
        batch = tf.shape(context)[0]
        next_token = tf.fill([batch, 1], self.start_id)
        done = tf.zeros([batch, 1], tf.bool)
        state = tf.zeros([batch, self.model.units])
        tokens = tf.TensorArray(tf.int32, size=1, dynamic_size=True)
        for step in tf.range(self.max_length):
            logits, state = self.model.decode(encoded, next_token, state)
            next_token = tf.argmax(logits[:, -1:, :], axis=-1, output_type=tf.int32)
            done = done | (next_token == self.end_id)
            next_token = tf.where(done, 0, next_token)
            tokens = tokens.write(step, next_token)
            if tf.reduce_all(done):
                break
        ids = tf.transpose(tf.squeeze(tokens.stack(), -1))  # (batch, steps)
        words = tf.gather(self.words, ids)
        words = tf.where(ids > 0, words, "")
        return {
            "translation": tf.strings.strip(tf.strings.reduce_join(words, axis=-1, separator=" ")),
            "length": tf.reduce_sum(tf.cast((ids > 0) & (ids != self.end_id), tf.int32), axis=-1),
        }
