"""A run's tokens: whole words (seqlib.data.vocabulary) or WordPiece subwords
(seqlib.data.subwords), as `config.tokenizer` says.

Both kinds save their vocabularies the same way (one token a line, ids from 2 on)
and both vectorizers are called the same way (standardized text -> ids), so the
pipeline, the models and the search never ask which one a run uses. Only turning
ids back into words differs: see `ids_to_words`.
"""

import tensorflow as tf

from seqlib.data import subwords, vocabulary

WORD = "word"
WORDPIECE = "wordpiece"


def build_vocabularies(config, english, french):
    """Learns a run's (source, target) vocabularies from its training sentences.

    Args:
        config: TrainConfig (tokenizer, source_vocab_size, target_vocab_size, min_count).
        english, french: lists of str.

    Returns:
        (source tokens, target tokens): lists of str, ids from 2 on; the target's
        start with [START] and [END].
    """
    reserved = vocabulary.TARGET_SPECIAL_TOKENS
    if config.tokenizer == WORDPIECE:
        # The learner keeps pieces by frequency itself; min_count is for words.
        return (
            subwords.learn_wordpiece(english, config.source_vocab_size),
            subwords.learn_wordpiece(french, config.target_vocab_size, reserved),
        )
    return (
        vocabulary.build_vocabulary(english, config.source_vocab_size, config.min_count),
        vocabulary.build_vocabulary(french, config.target_vocab_size, config.min_count, reserved),
    )


def make_vectorizer(tokenizer, tokens, ragged=False):
    """The vectorizer of a `tokenizer` kind: tf.string (batch,) standardized text ->
    int64 ids (batch, s), a RaggedTensor if ragged else padded with 0.

    Args:
        tokenizer: "word" or "wordpiece" (seqlib.config.TOKENIZERS).
        tokens: the vocabulary, ids from 2 on.
    """
    if tokenizer == WORDPIECE:
        return subwords.WordPieceVectorizer(tokens, ragged=ragged)
    return vocabulary.make_vectorizer(tokens, ragged=ragged)


def ids_to_words(vectorizer, token_table, ids):
    """Target ids back to words, ready for seqlib.data.text.detokenize.

    Args:
        vectorizer: from `make_vectorizer`.
        token_table: tf.string (vocab,), the token of every id.
        ids: int RaggedTensor (batch, None), special tokens already removed.

    Returns:
        tf.string RaggedTensor (batch, words): a word is one token, or the pieces
        of one word joined.
    """
    if isinstance(vectorizer, subwords.WordPieceVectorizer):
        return vectorizer.words(ids)
    return tf.gather(token_table, ids)
