"""Translating lists of Python strings in batches, with any decoding method."""

import tensorflow as tf

# Inputs longer than this many characters are cut before tokenising; the model
# reads at most `max_tokens` tokens anyway, and this bounds the work on huge lines.
MAX_INPUT_CHARACTERS = 2000


def translate_sentences(
    translator,
    sentences,
    beam_width=None,
    n_best=1,
    alpha=0.6,
    temperature=None,
    top_k=0,
    seed=0,
    max_length=None,
    batch_size=64,
    warn=None,
):
    """Translates sentences, keeping their order.

    Args:
        translator: seqlib.translator.Translator (or its reloaded SavedModel).
        sentences: list of str.
        beam_width: None for greedy search, else beam search with this many beams.
        n_best: hypotheses per sentence (beam search only).
        temperature: if set, sample instead of searching.
        warn: called with a message when an input is truncated.

    Yields:
        for each sentence, a list of n_best (translation, score) pairs, best first.
    """
    max_length = tf.constant(max_length or 0, tf.int32)
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start : start + batch_size]
        for offset, sentence in enumerate(batch):
            if len(sentence) > MAX_INPUT_CHARACTERS and warn is not None:
                warn(f"input {start + offset} has {len(sentence)} characters; translating only its beginning")
        batch = [sentence[:MAX_INPUT_CHARACTERS] for sentence in batch]
        text = tf.constant(batch, tf.string)
        if temperature is not None:
            result = translator.sample(
                text, tf.constant(temperature, tf.float32), tf.constant(top_k), tf.constant(seed), max_length
            )
            rows = zip(result["translation"].numpy()[:, None], result["scores"].numpy()[:, None])
        elif beam_width is not None:
            result = translator.beam(
                text, tf.constant(beam_width), tf.constant(n_best), tf.constant(alpha, tf.float32), max_length
            )
            rows = zip(result["translations"].numpy(), result["scores"].numpy())
        else:
            result = translator.greedy(text, max_length)
            rows = zip(result["translation"].numpy()[:, None], result["scores"].numpy()[:, None])
        for translations, scores in rows:
            yield [(text.decode("utf-8"), float(score)) for text, score in zip(translations, scores)]
