"""Text normalisation, tokenisation and detokenisation, as TensorFlow graph ops.

Everything here runs inside the graph (tensorflow-text and `tf.strings`), so the
same code serves training, the translator and the exported SavedModel, and no
Python is needed to use it once exported.

We keep what the TF tutorial throws away: accents, case and apostrophes. We only
make the text regular: NFKC normal form, one apostrophe (`'`), plain spaces, and
punctuation as separate tokens.
"""

import unicodedata

import tensorflow as tf
import tensorflow_text as tf_text

# Punctuation that becomes a token of its own. Brackets are included so that user
# text can never spell a special token such as "[START]".
PUNCTUATION = '[.?!,;:¿¡«»"()\\[\\]…]'
# Characters that readers take for an apostrophe; all become `'`. The acute accent
# and the grave accent are typed for it on keyboards without one. Shared with the
# normalisation of references (normalize_reference), so scores compare like with like.
APOSTROPHE_VARIANTS = "\u2019\u2018\u02bc\u00b4`"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
_TO_APOSTROPHE = str.maketrans(dict.fromkeys(APOSTROPHE_VARIANTS, "'"))


def standardize(text):
    """Normalises sentences and splits punctuation off, keeping accents and case.

    Args:
        text: tf.string Tensor (batch,), raw UTF-8 sentences.

    Returns:
        tf.string Tensor (batch,): tokens separated by single spaces, e.g.
        "Qu’est-ce que c’est ?" -> "Qu' est-ce que c' est ?".
    """
    # Typographic apostrophes and the ASCII one are the same letter to a reader.
    # Before NFKC, which would turn the acute accent ´ into a space and a combining mark.
    text = tf.strings.regex_replace(text, "[" + APOSTROPHE_VARIANTS + "]", "'")
    text = tf_text.normalize_utf8(text, "NFKC")
    # Control and format characters (tabs, zero-width spaces) and NBSP/NNBSP are spaces.
    text = tf.strings.regex_replace(text, "[\\p{Cc}\\p{Cf}\\p{Z}]", " ")
    text = tf.strings.regex_replace(text, "(" + PUNCTUATION + ")", " \\1 ")
    # French elision: "c'est" -> "c' est", so "est" is shared with "il est".
    text = tf.strings.regex_replace(text, "(\\pL')", "\\1 ")
    text = tf.strings.regex_replace(text, " +", " ")
    return tf.strings.strip(text)


def detokenize(tokens):
    """Joins French tokens back into normally written French.

    Args:
        tokens: tf.string RaggedTensor (batch, None) of tokens.

    Returns:
        tf.string Tensor (batch,), e.g. ["Va", "!"] -> "Va !",
        ["C'", "est", "."] -> "C'est." and ['"', "salut", '"'] -> '"salut"'.
    """
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    # Elided words join the next word; French keeps the space before ? ! : ; » and after «.
    text = tf.strings.regex_replace(text, "' ", "'")
    # A straight quote does not say whether it opens or closes, so quotes are closed
    # up in pairs, left to right: '" salut "' -> '"salut"'. A lone quote keeps its spaces.
    text = tf.strings.regex_replace(text, '" ([^"]*?) "', '"\\1"')
    # "…" ends the word before it, like the full stop it stands for.
    text = tf.strings.regex_replace(text, " …", "…")
    text = tf.strings.regex_replace(text, " ([.,)\\]])", "\\1")
    text = tf.strings.regex_replace(text, "([(\\[]) ", "\\1")
    return text


def add_start_end(standardized):
    """Wraps standardized target sentences in start and end tokens.

    Args:
        standardized: tf.string Tensor (batch,), output of `standardize`.

    Returns:
        tf.string Tensor (batch,): "[START] ... [END]".
    """
    return tf.strings.join([START_TOKEN, standardized, END_TOKEN], separator=" ")


def normalize_reference(text):
    """Puts a reference in the form the translator writes: one apostrophe, NFKC,
    plain single spaces. Words, accents, case and punctuation are untouched."""
    # Apostrophes first, as standardize does: NFKC turns the acute
    # accent ´ into a space and a combining accent.
    text = unicodedata.normalize("NFKC", text.translate(_TO_APOSTROPHE))
    return " ".join(text.split())
