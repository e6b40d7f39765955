"""WordPiece subword vocabularies: learning one, and the vectorizer that applies it.

A word vocabulary keeps the most frequent words; every other word is `[UNK]` in
the source and cannot be written in the output. A WordPiece vocabulary keeps
frequent words whole and spells the rest from pieces: "zyzzyva" becomes "z",
"##y", "##zz", "##y", "##va", where "##" marks a piece that continues a word.
Every character of the training text is a piece, so every word made of those
characters can be read and written.

Both steps are tensorflow-text's: the vocabulary learner
(`tensorflow_text.tools.wordpiece_vocab`, pure Python) and `FastWordpieceTokenizer`
(graph ops, so it runs in tf.data, in the translator and inside an exported
SavedModel). They run on seqlib's own standardised text (seqlib.data.text), so
accents, case and French punctuation survive: we hand the learner our words
rather than calling `bert_vocab_from_dataset`, whose BERT pre-tokeniser would
split "c'" and "est-ce" differently from the words we tokenise later.
"""

import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from seqlib.data.vocabulary import count_tokens

# Marks a piece that continues a word: "maison" + "##s".
JOINER = "##"
# FastWordpieceTokenizer needs a token at every id, padding's included.
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# A piece is kept when it is seen at least this often (the learner's threshold);
# the search below never goes lower, so a piece seen once never takes a place.
LOWEST_COUNT = 2
# The learner accepts a vocabulary up to this share below the size asked for.
SLACK = 0.05


def learn_wordpiece(sentences, max_size, reserved=()):
    """Learns a WordPiece vocabulary from standardized words.

    Args:
        sentences: list of str (raw; they are standardized here, as everywhere).
        max_size: the vocabulary's size including padding and [UNK] (ids 0 and 1).
            The vocabulary learned is at most this big (unless the text's characters
            alone need more); it comes as close as a whole-number count threshold
            allows: within 10 % on the whole corpus, up to a third smaller on a few
            thousand sentences, where one more count drops many pieces.
        reserved: tokens placed first, e.g. [START] and [END].

    Returns:
        list of str: the pieces, ids 2, 3, … in order (padding and [UNK] excluded),
        like seqlib.data.vocabulary.build_vocabulary, so both are saved and loaded alike.
    """
    counts = count_tokens(sentences)
    special = [PAD_TOKEN, UNK_TOKEN, *reserved]
    for token in special:
        counts.pop(token, None)
    # Sorted, so the vocabulary does not depend on the corpus order.
    word_counts = sorted(counts.items())
    return _search_threshold(word_counts, max_size, special)[2:]


def _search_threshold(word_counts, max_size, special):
    """The learner's vocabulary at the lowest count threshold that fits max_size.

    tensorflow-text's `learn` finds the threshold by bisecting between 1 and the
    commonest word's count (about 17 full passes of learning here, minutes on
    the whole corpus); the threshold that fits is small, and the vocabulary
    shrinks as it grows, so we bracket it by doubling from a lower bound and then
    bisect, each try one pass of `learn` at a single threshold: 5 to 8 passes.
    """

    def learn_at(threshold):
        # lower == upper: the learner's own search has nothing to search.
        return learner.learn(word_counts, max_size, special, upper_thresh=threshold, lower_thresh=threshold)

    frequencies = sorted((count for _, count in word_counts), reverse=True)
    # Every word seen at least this often is a piece of its own, so any lower
    # threshold keeps more than max_size pieces.
    low = max(LOWEST_COUNT, frequencies[max_size] + 1 if len(frequencies) > max_size else LOWEST_COUNT)
    vocabulary = learn_at(low)
    if len(vocabulary) <= max_size:
        return vocabulary
    high, fitting = low * 2, None
    while fitting is None:
        candidate = learn_at(high)
        # Above the commonest word's count only the characters are left: a text
        # with more of them than max_size gets them all rather than no vocabulary.
        if len(candidate) <= max_size or high > frequencies[0]:
            fitting = candidate
        else:
            low, high = high, high * 2
    # Invariant: low keeps too many pieces, high fits (its vocabulary is `fitting`).
    while high - low > 1 and len(fitting) < max_size * (1 - SLACK):
        middle = (low + high) // 2
        candidate = learn_at(middle)
        if len(candidate) <= max_size:
            high, fitting = middle, candidate
        else:
            low = middle
    return fitting


class WordPieceVectorizer(tf.Module):
    """Standardized text to WordPiece ids, and ids back to words.

    Called like the word vectorizer (seqlib.data.vocabulary.make_vectorizer): on
    tf.string (batch,) of standardized text (words separated by spaces), it gives
    int64 ids (batch, pieces), a RaggedTensor if ragged else padded with 0.

    Args:
        vocabulary: list of pieces, ids from 2 on (from `learn_wordpiece`).
        ragged: return a RaggedTensor instead of a padded Tensor.
    """

    def __init__(self, vocabulary, ragged=False):
        super().__init__(name="wordpiece_vectorizer")
        self.ragged = ragged
        self.tokens = [PAD_TOKEN, UNK_TOKEN, *vocabulary]
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=self.tokens,
            suffix_indicator=JOINER,
            unknown_token=UNK_TOKEN,
            token_out_type=tf.int64,
            # Our own standardisation has split the words already: whitespace only.
            no_pretokenization=True,
            support_detokenization=True,
        )

    def __call__(self, standardized):
        """tf.string (batch,) -> int64 (batch, pieces)."""
        words = tf.strings.split(standardized)
        # (batch, words, pieces) -> (batch, pieces)
        ids = self.tokenizer.tokenize(words).merge_dims(-2, -1)
        return ids if self.ragged else ids.to_tensor()

    def words(self, ids):
        """Joins pieces into words: int (batch, pieces) ragged ids, specials removed ->
        tf.string RaggedTensor (batch, words)."""
        return tf.strings.split(self.tokenizer.detokenize(ids))

    def vocabulary_size(self):
        return len(self.tokens)

    def get_vocabulary(self):
        """Every piece, by id (padding's "[PAD]" at 0, "[UNK]" at 1)."""
        return list(self.tokens)
