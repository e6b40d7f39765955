"""The translator: text in, text out, in one compiled graph.

It wires a model's decoder (the `encode`/`next_features` contract of
seqlib.models.contract, met by the GRU and the transformer alike) into the loops
of `seqlib.decoding.search`: the encoder runs once per sentence, then the decoder starts
from the encoder's state and the start ("GO") token and produces one token per
step. `step` is where the decoder's features become next-token logits. Greedy search, sampling and beam search all return `translations` string
(batch, n) and `scores` float32 (batch, n), n = 1 but for beam search's n_best.
Every public method is a `tf.function` with `None` batch and length dimensions,
so new batch sizes and sentence lengths do not retrace, and the whole module can
be saved as a SavedModel that needs TensorFlow and tensorflow-text, not seqlib.
"""

import tensorflow as tf

from seqlib.conventions import DEFAULT_ALPHA, END_ID, NEG_INF, START_ID, automatic_max_length
from seqlib.data.text import detokenize, standardize
from seqlib.data.tokenizers import WORD, ids_to_words, make_vectorizer
from seqlib.decoding import search

TEXT = tf.TensorSpec([None], tf.string, name="text")
INT = tf.TensorSpec([], tf.int32)
FLOAT = tf.TensorSpec([], tf.float32)
# The loops are tf.while_loop and tf.cond already, so autograph (rewriting the
# Python source into graph code) has nothing to do but costs about 1 s of tracing,
# most of the first call's time: every tf.function here sets autograph=False.


class Translator(tf.Module):
    """Translates batches of English sentences into French.

    Args:
        decoder: the model's decoder (seqlib.models.contract.Decoder, from
            seqlib.models.registry.build_decoder).
        source_vocabulary, target_vocabulary: lists of tokens (ids from 2 on):
            words, or WordPiece pieces.
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
        tokenizer: what the vocabularies hold, "word" or "wordpiece"
            (seqlib.config.TOKENIZERS): how text becomes ids and ids text.
    """

    def __init__(
        self,
        decoder,
        source_vocabulary,
        target_vocabulary,
        max_source_tokens,
        max_output_tokens,
        jit_compile=False,
        bfloat16_projection=False,
        tokenizer=WORD,
    ):
        super().__init__(name="translator")
        self.jit_compile = jit_compile
        if jit_compile:
            self._xla_greedy_numbers = tf.function(self._greedy_numbers, jit_compile=True, autograph=False)
        self.decoder = decoder
        # The decoder stops before the vocabulary projection, which `step` runs
        # itself: with the forbidden tokens in its bias, and optionally in bfloat16.
        self.projection = decoder.projection
        self.bfloat16_kernel = self.bfloat16_bias = None
        if bfloat16_projection:
            # Kernel and bias from the same moment, whatever happens to the model later.
            self.bfloat16_kernel = tf.Variable(tf.cast(self.projection.kernel, tf.bfloat16), trainable=False)
            self.bfloat16_bias = tf.Variable(tf.cast(self.projection.bias, tf.float32), trainable=False)
        self.tokenizer = tokenizer
        self.source_vectorizer = make_vectorizer(tokenizer, source_vocabulary)
        self.target_vectorizer = make_vectorizer(tokenizer, target_vocabulary, ragged=True)
        self.source_tokens = tf.constant(["", "[UNK]"] + list(source_vocabulary))
        self.target_tokens = tf.constant(["", "[UNK]"] + list(target_vocabulary))
        self.max_source_tokens = tf.constant(max_source_tokens, tf.int32)
        self.max_output_tokens = tf.constant(max_output_tokens, tf.int32)
        vocab_size = len(target_vocabulary) + 2
        # Padding, [UNK] and [START] are never generated: an [UNK] in the output
        # helps no reader, and the next-best word usually is right.
        self.forbidden = tf.constant([NEG_INF] * 3 + [0.0] * (vocab_size - 3), tf.float32)

    # ---- text <-> ids ----------------------------------------------------

    def vectorize(self, text):
        """tf.string (batch,) -> context int32 (batch, s) with s >= 1, truncated."""
        context = tf.cast(self.source_vectorizer(standardize(text)), tf.int32)
        context = context[:, : self.max_source_tokens]
        # One padding column keeps shapes valid when every input is empty.
        return tf.pad(context, [[0, 0], [0, 1]])

    def to_text(self, tokens):
        """int32 (..., t) ids -> tf.string (...): words only, detokenized."""
        kept = tf.ragged.boolean_mask(tokens, tokens > END_ID)
        if tokens.shape.rank == 3:
            kept = kept.merge_dims(0, 1)
        words = ids_to_words(self.target_vectorizer, self.target_tokens, kept)
        return tf.reshape(detokenize(words), tf.shape(tokens)[:-1])

    def source_lengths(self, text):
        """tf.string (batch,) -> int32 (batch,): how many tokens each sentence is,
        before `vectorize` truncates it to max_source_tokens."""
        return tf.reduce_sum(tf.cast(self.source_vectorizer(standardize(text)) != 0, tf.int32), axis=1)

    def source_pieces(self, sentence):
        """The tokens the encoder reads for one sentence (str), as a list of str: its
        standardized words, or for WordPiece its pieces ("zyzz", "##y", ...), truncated."""
        ids = self.vectorize(tf.constant([sentence])).numpy()[0]
        ids = ids[: int((ids != 0).sum())]
        if self.tokenizer == WORD:
            # The words themselves, also those the vocabulary lacks (read as [UNK]).
            return standardize(tf.constant([sentence])).numpy()[0].decode("utf-8").split()[: len(ids)]
        return [token.decode("utf-8") for token in tf.gather(self.source_tokens, ids).numpy()]

    def target_pieces(self, ids):
        """Generated ids, a list of int, -> the token of each (str): a word, or a piece."""
        if self.tokenizer == WORD:
            # Each word as it would be written alone.
            return [word.decode("utf-8") for word in self.to_text(tf.constant([[i] for i in ids], tf.int32)).numpy()]
        return [token.decode("utf-8") for token in tf.gather(self.target_tokens, list(ids)).numpy()]

    # ---- the step function the search loops drive --------------------------

    def encode(self, context, max_length=None):
        """Runs the encoder once: context int32 (rows, s) -> the decoder's start state.

        Everything per sentence, the encoder's outputs included, travels in the
        state, so the search loops can drop finished sentences from the batch.
        max_length: the most steps that will follow (see seqlib.models.registry).
        """
        return self.decoder.encode(context, max_length)

    def step(self, tokens, state, forbid=True):
        """One decoding step: tokens int32 (rows,) -> (next-token logits float32 (rows, vocab), state).

        forbid: padding, [UNK] and [START] get NEG_INF logits (see `forbidden`), as
            every search here wants; False gives the model's own logits, every token
            allowed, as training scored them (seqlib.evaluation.exposure).
        """
        logits, state, _ = self._logits_and_attention(tokens, state, self._output_bias(forbid))
        return logits, state

    def forbid(self, logits):
        """logits float32 (rows, vocab) from step(..., forbid=False) -> those `step` gives by default."""
        return logits + self.forbidden

    def start_decoding(self, context, max_length=None, with_attention=False):
        """(step function, start state, start tokens) for a search loop of at most max_length steps.

        The step function is `step`, with the output bias computed here, once a
        search, not inside the loop at every step.

        Args:
            context: int32 (batch, s), from `vectorize`.
            max_length: int32 scalar, the most steps the loop takes (see `encode`).
            with_attention: the step function also returns the attention weights
                float32 (rows, s), for search.greedy_search(..., record=True).
        """
        output_bias = self._output_bias()

        def step_with_attention(tokens, state):
            return self._logits_and_attention(tokens, state, output_bias)

        def step(tokens, state):
            logits, state, _ = self._logits_and_attention(tokens, state, output_bias)
            return logits, state

        start_tokens = tf.fill([tf.shape(context)[0]], START_ID)
        return step_with_attention if with_attention else step, self.encode(context, max_length), start_tokens

    def _output_bias(self, forbid=True):
        """The projection's bias, float32 (vocab,), plus `forbidden` if forbid: the
        forbidden tokens ride on the bias, one add per step fewer than on the logits."""
        bias = tf.cast(self.bfloat16_bias if self.bfloat16_bias is not None else self.projection.bias, tf.float32)
        return bias + self.forbidden if forbid else bias

    def _logits_and_attention(self, tokens, state, output_bias):
        """The decoder's step and the projection onto the vocabulary with output_bias
        (see _output_bias): -> (logits float32 (rows, vocab), state, attention float32 (rows, s))."""
        features, state, attention = self.decoder.next_features(tokens, state)
        if self.bfloat16_kernel is not None:
            logits = tf.cast(tf.matmul(tf.cast(features, tf.bfloat16), self.bfloat16_kernel), tf.float32)
        else:
            logits = tf.matmul(tf.cast(features, tf.float32), tf.cast(self.projection.kernel, tf.float32))
        return tf.nn.bias_add(logits, output_bias), state, attention

    def _max_length(self, context, max_length):
        """max_length if > 0, else the automatic rule for this source length; capped."""
        chosen = tf.where(max_length > 0, max_length, automatic_max_length(tf.shape(context)[1]))
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
        return {"translation": self.greedy(text, tf.constant(0))["translations"][:, 0]}

    @tf.function(input_signature=[TEXT, INT, INT], autograph=False)
    def translate_beam(self, text, beam_width, n_best):
        """Beam search: {"translations": string (batch, n_best), "scores": float32 (batch, n_best)}."""
        result = self.beam(text, beam_width, n_best, tf.constant(DEFAULT_ALPHA), tf.constant(0))
        return {"translations": result["translations"], "scores": result["scores"]}

    @tf.function(input_signature=[TEXT, INT], autograph=False)
    def greedy(self, text, max_length):
        """Greedy search.

        Returns:
            translations: string (batch, 1); scores: float32 (batch, 1),
            log-probabilities; tokens: int32 (batch, t); attention: float32
            (batch, t, s), zeros after a sentence's end token.
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
            context,
            translations=self.to_text(tokens)[:, None],
            scores=result["scores"][:, None],
            tokens=tokens,
            attention=attention,
        )

    def _greedy_numbers(self, context, max_length):
        """Encoder + greedy loop: context int32 (batch, s) -> see search.greedy_search;
        its records are the attention weights (batch, t, s), for plots."""
        # XLA needs fixed shapes: a state sized by the decoder's own maximum, and every
        # sentence kept to the end. Otherwise the state fits this loop, and finished
        # sentences leave the batch.
        step, state, start = self.start_decoding(context, None if self.jit_compile else max_length, with_attention=True)
        mode = search.FIXED_SHAPE if self.jit_compile else search.DROP_FINISHED
        return search.greedy_search(step, state, start, END_ID, max_length, record=True, mode=mode)

    @tf.function(input_signature=[TEXT, FLOAT, INT, INT, INT], autograph=False)
    def sample(self, text, temperature, top_k, seed, max_length):
        """Sampling with temperature and top-k: translations string (batch, 1), scores float32 (batch, 1)."""
        context = self.vectorize(text)
        limit = self._max_length(context, max_length)
        step, state, start = self.start_decoding(context, limit)
        result = search.sample(step, state, start, END_ID, limit, temperature, top_k, seed, mode=search.DROP_FINISHED)
        return self._blank_empty(context, translations=self.to_text(result["tokens"])[:, None], scores=result["scores"][:, None])

    @tf.function(input_signature=[TEXT, INT, INT, FLOAT, INT], autograph=False)
    def beam(self, text, beam_width, n_best, alpha, max_length):
        """Beam search: translations string (batch, n_best), scores float32 (batch, n_best), best first."""
        tf.debugging.assert_greater(beam_width, 0, message="beam_width must be >= 1")
        tf.debugging.assert_greater(n_best, 0, message="n_best must be >= 1")
        tf.debugging.assert_less_equal(n_best, beam_width, message="n_best must be <= beam_width")
        context = self.vectorize(text)
        limit = self._max_length(context, max_length)
        step, state, start = self.start_decoding(context, limit)
        result = search.beam_search(
            step,
            state,
            start,
            END_ID,
            limit,
            beam_width,
            n_best,
            alpha,
            mode=search.DROP_FINISHED,
            fixed_keys=self.decoder.fixed_keys,
        )
        return self._blank_empty(context, translations=self.to_text(result["tokens"]), scores=result["scores"])
