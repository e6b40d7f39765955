"""The translator: text in, text out, in one compiled graph.

It wires the trained encoder and one-step decoder into the loops of
`seqlib.search`: the encoder runs once per sentence, then the decoder starts from
the encoder's state and the start ("GO") token and produces one token per step.
Every public method is a `tf.function` with `None` batch and length dimensions,
so new batch sizes and sentence lengths do not retrace, and the whole module can
be saved as a SavedModel that needs TensorFlow and tensorflow-text, not seqlib.
"""

import tensorflow as tf

from seqlib import search
from seqlib.model import one_token_mask_ignored
from seqlib.text import detokenize, standardize
from seqlib.vocabulary import END_ID, START_ID, make_vectorizer

TEXT = tf.TensorSpec([None], tf.string, name="text")
INT = tf.TensorSpec([], tf.int32)
FLOAT = tf.TensorSpec([], tf.float32)
# The loops are tf.while_loop and tf.cond already, so autograph (rewriting the
# Python source into graph code) has nothing to do but costs about 1 s of tracing,
# most of the first call's time: every tf.function here sets autograph=False.


class Translator(tf.Module):
    """Translates batches of English sentences into French.

    Args:
        inference_models: seqlib.model.InferenceModels.
        source_vocabulary, target_vocabulary: lists of tokens (ids from 2 on).
        max_source_tokens: longer inputs are truncated to this many tokens.
        max_output_tokens: the most tokens generated for one sentence.
        jit_compile: run greedy search's numeric part (encoder and loop) with XLA.
            Faster on a CPU once compiled (see bench/README.md), but XLA compiles
            again for every new batch size and source length; sources are padded
            to a multiple of 8 tokens to limit that. Not saved by export.
        bfloat16_projection: project onto the vocabulary in bfloat16 from a
            snapshot of the output weights taken now, so only for a translator
            of a finished model. On CPUs with AMX or AVX512-BF16 beam search
            is 15-25 % faster and greedy about the same (see bench/README.md),
            elsewhere slower; a near tie between two words can go the other way.
    """

    def __init__(
        self,
        inference_models,
        source_vocabulary,
        target_vocabulary,
        max_source_tokens,
        max_output_tokens,
        jit_compile=False,
        bfloat16_projection=False,
    ):
        super().__init__(name="translator")
        self.jit_compile = jit_compile
        if jit_compile:
            self._xla_greedy_numbers = tf.function(self._greedy_numbers, jit_compile=True, autograph=False)
        self.encoder = inference_models.encoder
        self.decoder_step = inference_models.decoder_step
        # The decoder step without its vocabulary projection, which `_decode`
        # runs itself: with the forbidden tokens in its bias, and optionally in bfloat16.
        self.decoder_features = inference_models.decoder_features
        self.projection = inference_models.decoder_step.get_layer("logits")
        self.bfloat16_kernel = self.bfloat16_bias = None
        if bfloat16_projection:
            # Kernel and bias from the same moment, whatever happens to the model later.
            self.bfloat16_kernel = tf.Variable(tf.cast(self.projection.kernel, tf.bfloat16), trainable=False)
            self.bfloat16_bias = tf.Variable(tf.cast(self.projection.bias, tf.float32), trainable=False)
        self.source_vectorizer = make_vectorizer(source_vocabulary)
        self.target_tokens = tf.constant(["", "[UNK]"] + list(target_vocabulary))
        self.max_source_tokens = tf.constant(max_source_tokens, tf.int32)
        self.max_output_tokens = tf.constant(max_output_tokens, tf.int32)
        vocab_size = len(target_vocabulary) + 2
        # Padding, [UNK] and [START] are never generated: an [UNK] in the output
        # helps no reader, and the next-best word usually is right.
        self.forbidden = tf.constant([search.NEG_INF] * 3 + [0.0] * (vocab_size - 3), tf.float32)

    # ---- text <-> ids ----------------------------------------------------

    def vectorize(self, text):
        """tf.string (batch,) -> context int32 (batch, s) with s >= 1, truncated."""
        context = tf.cast(self.source_vectorizer(standardize(text)), tf.int32)
        context = context[:, : self.max_source_tokens]
        # One padding column keeps shapes valid when every input is empty.
        return tf.pad(context, [[0, 0], [0, 1]])

    def to_text(self, tokens):
        """int32 (..., t) ids -> tf.string (...): words only, detokenized."""
        words = tf.ragged.boolean_mask(tf.gather(self.target_tokens, tokens), tokens > END_ID)
        if tokens.shape.rank == 3:
            words = words.merge_dims(0, 1)
        return tf.reshape(detokenize(words), tf.shape(tokens)[:-1])

    # ---- the step function the search loops drive --------------------------

    def _decode(self, tokens, hidden, encoder_outputs, attention_keys, context, output_bias):
        """One decoder step: next-token logits float32 (rows, vocab), hidden
        (rows, units) and attention weights float32 (rows, s).

        output_bias: float32 (vocab,), the projection's bias plus `forbidden`
        (one add per step fewer than adding `forbidden` to the logits).
        """
        with one_token_mask_ignored():
            features, hidden, attention = self.decoder_features(
                [tokens, hidden, encoder_outputs, attention_keys, context], training=False
            )
        if self.bfloat16_kernel is not None:
            logits = tf.cast(tf.matmul(tf.cast(features, tf.bfloat16), self.bfloat16_kernel), tf.float32)
        else:
            logits = tf.matmul(tf.cast(features, tf.float32), tf.cast(self.projection.kernel, tf.float32))
        return tf.nn.bias_add(logits, output_bias), hidden, tf.cast(attention, tf.float32)

    def _start(self, context, with_attention=True):
        """Runs the encoder once; returns the step function and its start state.

        Everything per sentence, the encoder's outputs included, travels in the
        state, so the search loops can drop finished sentences from the batch.

        Args:
            context: int32 (rows, s), source ids.
            with_attention: keep the last step's attention weights in the state
                (for plotting); beam search does not need them.

        Returns:
            step: (tokens int32 (rows,), state) -> (logits float32 (rows, vocab), state).
            state: dict with hidden float32 (rows, units), encoder_outputs
                (rows, s, units), attention_keys (rows, s, units), context int32
                (rows, s) and, with_attention, attention float32 (rows, s).
        """
        encoder_outputs, attention_keys, hidden = self.encoder(context, training=False)
        bias = self.bfloat16_bias if self.bfloat16_bias is not None else self.projection.bias
        output_bias = tf.cast(bias, tf.float32) + self.forbidden

        def step(tokens, state):
            logits, hidden, attention = self._decode(
                tokens, state["hidden"], state["encoder_outputs"], state["attention_keys"], state["context"], output_bias
            )
            state = {**state, "hidden": hidden}
            if with_attention:
                state["attention"] = attention
            return logits, state

        state = {
            "hidden": hidden,
            "encoder_outputs": encoder_outputs,
            "attention_keys": attention_keys,
            "context": context,
        }
        if with_attention:
            state["attention"] = tf.zeros(tf.shape(context), tf.float32)
        return step, state

    def _max_length(self, context, max_length):
        """max_length if > 0, else twice the source length plus 10, capped."""
        automatic = 2 * tf.shape(context)[1] + 10
        chosen = tf.where(max_length > 0, max_length, automatic)
        return tf.minimum(chosen, self.max_output_tokens)

    def _blank_empty(self, context, **outputs):
        """Empty (or all-whitespace) inputs translate to nothing: in each output
        their rows become "" (text) or 0 (scores: the log-probability of the only
        answer; tokens; attention).

        context: int32 (batch, s); outputs: Tensors (batch, ...).
        Returns: dict of the outputs, blanked.
        """
        is_empty = tf.reduce_all(tf.equal(context, 0), axis=1)

        def blank(output):
            rows = tf.reshape(is_empty, [-1] + [1] * (output.shape.rank - 1))
            return tf.where(rows, tf.zeros_like(output), output)

        return {name: blank(output) for name, output in outputs.items()}

    # ---- public, compiled entry points ------------------------------------

    @tf.function(input_signature=[TEXT], autograph=False)
    def translate(self, text):
        """Greedy translation: {"translation": tf.string (batch,)}."""
        return {"translation": self.greedy(text, tf.constant(0))["translation"]}

    @tf.function(input_signature=[TEXT, INT, INT], autograph=False)
    def translate_beam(self, text, beam_width, n_best):
        """Beam search: {"translations": string (batch, n_best), "scores": float32 (batch, n_best)}."""
        result = self.beam(text, beam_width, n_best, tf.constant(0.6), tf.constant(0))
        return {"translations": result["translations"], "scores": result["scores"]}

    @tf.function(input_signature=[TEXT, INT], autograph=False)
    def greedy(self, text, max_length):
        """Greedy search.

        Returns:
            translation: string (batch,); tokens: int32 (batch, t); scores: float32
            (batch,), log-probabilities; attention: float32 (batch, t, s), zeros
            after a sentence's end token.
        """
        context = self.vectorize(text)
        limit = self._max_length(context, max_length)
        if self.jit_compile:
            # Padding columns are masked out, so they change no result, only the
            # number of shapes XLA compiles for.
            padded = tf.pad(context, [[0, 0], [0, -tf.shape(context)[1] % 8]])
            result = self._xla_greedy_numbers(padded, limit)
            steps = result["steps"]
            tokens = result["tokens"][:, :steps]
            attention = result["records"][:, :steps, : tf.shape(context)[1]]
        else:
            result = self._greedy_numbers(context, limit)
            tokens, attention = result["tokens"], result["records"]
        return self._blank_empty(
            context, translation=self.to_text(tokens), tokens=tokens, scores=result["scores"], attention=attention
        )

    def _greedy_numbers(self, context, max_length):
        """Encoder + greedy loop: context int32 (batch, s) -> see search.greedy_search."""
        step, state = self._start(context)
        start = tf.fill([tf.shape(context)[0]], START_ID)
        # XLA needs fixed shapes; otherwise finished sentences leave the batch.
        return search.greedy_search(
            step,
            state,
            start,
            END_ID,
            max_length,
            record_key="attention",
            fixed_length=self.jit_compile,
            drop_finished=not self.jit_compile,
        )

    @tf.function(input_signature=[TEXT, FLOAT, INT, INT, INT], autograph=False)
    def sample(self, text, temperature, top_k, seed, max_length):
        """Sampling with temperature and top-k: {"translation": string (batch,), "scores"}."""
        context = self.vectorize(text)
        step, state = self._start(context, with_attention=False)
        start = tf.fill([tf.shape(context)[0]], START_ID)
        result = search.sample(
            step, state, start, END_ID, self._max_length(context, max_length), temperature, top_k, seed, drop_finished=True
        )
        return self._blank_empty(context, translation=self.to_text(result["tokens"]), scores=result["scores"])

    @tf.function(input_signature=[TEXT, INT, INT, FLOAT, INT], autograph=False)
    def beam(self, text, beam_width, n_best, alpha, max_length):
        """Beam search: translations string (batch, n_best), scores float32 (batch, n_best), best first."""
        tf.debugging.assert_greater(beam_width, 0, message="beam_width must be >= 1")
        tf.debugging.assert_greater(n_best, 0, message="n_best must be >= 1")
        tf.debugging.assert_less_equal(n_best, beam_width, message="n_best must be <= beam_width")
        context = self.vectorize(text)
        step, state = self._start(context, with_attention=False)
        start = tf.fill([tf.shape(context)[0]], START_ID)
        result = search.beam_search(
            step,
            state,
            start,
            END_ID,
            self._max_length(context, max_length),
            beam_width,
            n_best,
            alpha,
            drop_finished=True,
            # The same for every beam of a sentence: not reordered at every step.
            fixed_keys=("encoder_outputs", "attention_keys", "context"),
        )
        return self._blank_empty(context, translations=self.to_text(result["tokens"]), scores=result["scores"])
