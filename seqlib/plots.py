"""Attention heatmaps (matplotlib), for notebooks and TensorBoard."""

import io
import textwrap

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from seqlib.text import END_TOKEN, standardize
from seqlib.vocabulary import END_ID


def attention_figure(source_tokens, output_tokens, weights, title=None):
    """Draws attention weights: one row per generated token, one column per source token.

    Args:
        source_tokens: list of str (s).
        output_tokens: list of str (t).
        weights: float array (t, s), each row sums to 1.

    Returns:
        matplotlib.figure.Figure (shows itself in a notebook).
    """
    width = 1.0 + 0.5 * len(source_tokens)
    figure = Figure(figsize=(width, 1.0 + 0.4 * len(output_tokens)))
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    axes.set_yticks(range(len(output_tokens)), output_tokens)
    axes.set_xlabel("source")
    axes.set_ylabel("generated")
    if title:
        # Wrapped to the figure's width (about 9 characters an inch), so a long
        # sentence over a few source tokens is not cut off.
        axes.set_title(textwrap.fill(title, width=max(16, int(9 * width))), fontsize=9)
    figure.tight_layout()
    return figure


def attention_of(translator, sentence):
    """Greedy-translates one sentence and returns what its heatmap shows.

    Only the translator's public methods are used, so any Translator (or an
    object with the same `greedy`, `vectorize` and `to_text`) will do.

    Returns:
        (source tokens: list of str (s), generated tokens: list of str (t), ending
        with END_TOKEN if the sentence ended, weights: float array (t, s),
        translation: str).
    """
    text = tf.constant([sentence])
    result = translator.greedy(text, tf.constant(0))
    # The translator truncates long inputs; its padding id 0 marks where the source ends.
    source_length = int(np.count_nonzero(translator.vectorize(text).numpy()[0]))
    source_tokens = standardize(text).numpy()[0].decode("utf-8").split()[:source_length]
    ids = result["tokens"].numpy()[0]
    ended = np.flatnonzero(ids == END_ID)
    # Up to the end token included; a sentence that never ended fills every step.
    length = int(ended[0]) + 1 if ended.size else len(np.trim_zeros(ids, "b"))
    ids = ids[:length]
    # One id a row, so each token is shown as the word it stands for ("" for [END]).
    words = [word.decode("utf-8") for word in translator.to_text(tf.constant(ids[:, np.newaxis], tf.int32)).numpy()]
    output_tokens = [END_TOKEN if i == END_ID else word for i, word in zip(ids, words)]
    weights = result["attention"].numpy()[0, :length, :source_length]
    return source_tokens, output_tokens, weights, result["translations"].numpy()[0, 0].decode("utf-8")


def plot_attention(translator, sentence):
    """The attention heatmap of the greedy translation of `sentence`: a
    matplotlib Figure, which shows itself as a cell's value in a notebook
    (`plot_attention(translator, "I am cold.")`); in a script, save it with
    `plot_attention(translator, "I am cold.").savefig("attention.png")`."""
    source_tokens, output_tokens, weights, translation = attention_of(translator, sentence)
    return attention_figure(source_tokens, output_tokens, weights, title=f"{sentence} → {translation}")


def figure_to_png(figure):
    """The figure as PNG bytes (for tf.summary.image)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
