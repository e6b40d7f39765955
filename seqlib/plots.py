"""Attention heatmaps (matplotlib), for notebooks and TensorBoard."""

import io

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
    figure = Figure(figsize=(1.0 + 0.5 * len(source_tokens), 1.0 + 0.4 * len(output_tokens)))
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    axes.set_yticks(range(len(output_tokens)), output_tokens)
    axes.set_xlabel("source")
    axes.set_ylabel("generated")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure


def attention_of(translator, sentence):
    """Greedy-translates one sentence and returns (source tokens, generated tokens, weights (t, s), translation)."""
    result = translator.greedy(tf.constant([sentence]), tf.constant(0))
    source_tokens = standardize(tf.constant([sentence])).numpy()[0].decode("utf-8").split()
    source_tokens = source_tokens[: int(translator.max_source_tokens)]
    ids = result["tokens"].numpy()[0]
    length = int(np.argmax(ids == END_ID)) + 1 if (ids == END_ID).any() else len(ids)
    vocabulary = translator.target_tokens.numpy()
    output_tokens = [vocabulary[i].decode("utf-8") if i != END_ID else END_TOKEN for i in ids[:length]]
    weights = result["attention"].numpy()[0, :length, : len(source_tokens)]
    return source_tokens, output_tokens, weights, result["translation"].numpy()[0].decode("utf-8")


def plot_attention(translator, sentence):
    """The attention heatmap of the greedy translation of `sentence`, e.g.
    `plot_attention(translator, "I am cold.")` in a notebook."""
    source_tokens, output_tokens, weights, translation = attention_of(translator, sentence)
    return attention_figure(source_tokens, output_tokens, weights, title=f"{sentence} → {translation}")


def figure_to_png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
