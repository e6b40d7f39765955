"""Translating lists of Python strings in batches, with any decoding method."""

import tensorflow as tf

from seqlib.conventions import DEFAULT_ALPHA

# Inputs longer than this many characters are cut before tokenising; the model
# reads at most `max_tokens` tokens anyway, and this bounds the work on huge lines.
MAX_INPUT_CHARACTERS = 2000


def truncation_warnings(translator, sentences, first_line_number=1):
    """Says which inputs the translator will not read whole.

    The translator keeps the first `max_source_tokens` tokens of a sentence
    (and serving the first MAX_INPUT_CHARACTERS characters); a user should know
    that the end of a long line was not translated.

    Args:
        translator: seqlib.decoding.translator.Translator; an object without
            `max_source_tokens` (a reloaded SavedModel) gets only the character check.
        sentences: list of str, as given (before the character cut).
        first_line_number: the 1-based line number of sentences[0].

    Returns:
        list of str, one message per truncated input, e.g.
        "line 3: 61 tokens, translating only the first 40".
    """
    max_tokens = getattr(translator, "max_source_tokens", None)
    token_counts = [None] * len(sentences)
    if max_tokens is not None and sentences:
        max_tokens = int(max_tokens)
        cut = tf.constant([sentence[:MAX_INPUT_CHARACTERS] for sentence in sentences], tf.string)
        token_counts = translator.source_lengths(cut).numpy().tolist()
    messages = []
    for offset, (sentence, tokens) in enumerate(zip(sentences, token_counts)):
        where = f"line {first_line_number + offset}"
        too_long = len(sentence) > MAX_INPUT_CHARACTERS
        if tokens is not None and tokens > max_tokens:
            # Tokens are counted in the first MAX_INPUT_CHARACTERS characters only.
            count = f"{len(sentence)} characters, at least {tokens} tokens" if too_long else f"{tokens} tokens"
            messages.append(f"{where}: {count}, translating only the first {max_tokens}")
        elif too_long:
            messages.append(f"{where}: {len(sentence)} characters, translating only the first {MAX_INPUT_CHARACTERS}")
    return messages


def translate_sentences(
    translator,
    sentences,
    beam_width=None,
    n_best=1,
    alpha=DEFAULT_ALPHA,
    temperature=None,
    top_k=0,
    seed=0,
    max_length=None,
    batch_size=64,
    warn=None,
    first_line_number=1,
):
    """Translates sentences, keeping their order.

    Args:
        translator: seqlib.decoding.translator.Translator (or its reloaded SavedModel).
        sentences: list of str.
        beam_width: None for greedy search, else beam search with this many beams.
        n_best: hypotheses per sentence (beam search only).
        temperature: if set, sample instead of searching.
        warn: called with one message for each input that is truncated (see
            `truncation_warnings`); None skips the check.
        first_line_number: the line number of sentences[0] in those messages
            (a caller that translates a stream batch by batch counts on).

    Yields:
        for each sentence, a list of n_best (translation, score) pairs, best first.
    """
    max_length = tf.constant(max_length or 0, tf.int32)
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start : start + batch_size]
        if warn is not None:
            for message in truncation_warnings(translator, batch, first_line_number=first_line_number + start):
                warn(message)
        batch = [sentence[:MAX_INPUT_CHARACTERS] for sentence in batch]
        text = tf.constant(batch, tf.string)
        if temperature is not None:
            result = translator.sample(
                text, tf.constant(temperature, tf.float32), tf.constant(top_k), tf.constant(seed), max_length
            )
        elif beam_width is not None:
            result = translator.beam(
                text, tf.constant(beam_width), tf.constant(n_best), tf.constant(alpha, tf.float32), max_length
            )
        else:
            result = translator.greedy(text, max_length)
        # All three give translations (batch, n) and scores (batch, n).
        rows = zip(result["translations"].numpy(), result["scores"].numpy())
        for translations, scores in rows:
            yield [(text.decode("utf-8"), float(score)) for text, score in zip(translations, scores)]
