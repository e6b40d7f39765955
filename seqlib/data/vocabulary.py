"""Word vocabularies and the Keras `TextVectorization` layers built from them.

A vocabulary is saved as a plain text file, one token a line, most frequent
first. Keras adds id 0 for padding and id 1 for `[UNK]` itself, so loading one
needs nothing but `keras.layers.TextVectorization(vocabulary=path, ...)`.
"""

import collections

import keras
import tensorflow as tf

from seqlib.conventions import END_ID, PAD_ID, START_ID, UNK_ID  # noqa: F401  re-exported
from seqlib.data.text import END_TOKEN, START_TOKEN, standardize
from seqlib.files import write_atomically

# Reserved at the front of every target vocabulary, so their ids are fixed
# (seqlib.conventions.START_ID and END_ID).
TARGET_SPECIAL_TOKENS = (START_TOKEN, END_TOKEN)


def count_tokens(sentences):
    """Counts standardized tokens.

    Args:
        sentences: list of str, or tf.string Tensor (batch,).

    Returns:
        collections.Counter mapping token (str) to count.
    """
    tokens = tf.strings.split(standardize(tf.constant(sentences))).flat_values.numpy()
    return collections.Counter(token.decode("utf-8") for token in tokens)


def build_vocabulary(sentences, max_size, min_count=1, reserved=()):
    """Chooses the most frequent tokens.

    Args:
        sentences: list of str.
        max_size: the vocabulary's size including padding and [UNK] (ids 0 and 1).
        min_count: tokens seen fewer times are left out.
        reserved: tokens placed first, e.g. [START] and [END].

    Returns:
        list of str: the tokens, ids 2, 3, … in order (padding and [UNK] excluded).
    """
    counts = count_tokens(sentences)
    # Sorting by (-count, token) makes the vocabulary independent of corpus order.
    frequent = sorted((token for token, count in counts.items() if count >= min_count), key=lambda t: (-counts[t], t))
    frequent = [token for token in frequent if token not in reserved]
    return list(reserved) + frequent[: max(0, max_size - 2 - len(reserved))]


def save_vocabulary(tokens, path):
    """Writes one token a line, under a temporary name then renamed, so a kill never leaves half a file."""
    write_atomically(path, "".join(token + "\n" for token in tokens))


def load_vocabulary(path):
    with open(path, encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file]


def make_vectorizer(vocabulary, ragged=False):
    """A TextVectorization layer for standardized text (tokens separated by spaces).

    Args:
        vocabulary: list of tokens or the path of a saved vocabulary file.
        ragged: return a RaggedTensor (batch, None) instead of a padded Tensor.

    Returns:
        keras.layers.TextVectorization mapping tf.string (batch,) to int64 ids
        (batch, s), padded with 0.
    """
    return keras.layers.TextVectorization(standardize=None, split="whitespace", vocabulary=vocabulary, ragged=ragged)
