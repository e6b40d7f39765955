"""Figures (matplotlib) for notebooks and TensorBoard: attention heatmaps, and a
functional model drawn as its graph of layers."""

import io
import textwrap

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from seqlib.data.text import END_TOKEN
from seqlib.data.vocabulary import END_ID


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
    object with the same `greedy`, `source_pieces` and `target_pieces`) will do.

    Returns:
        (source tokens: list of str (s), generated tokens: list of str (t), ending
        with END_TOKEN if the sentence ended, weights: float array (t, s),
        translation: str).
    """
    text = tf.constant([sentence])
    result = translator.greedy(text, tf.constant(0))
    source_tokens = translator.source_pieces(sentence)
    source_length = len(source_tokens)
    ids = result["tokens"].numpy()[0]
    ended = np.flatnonzero(ids == END_ID)
    # Up to the end token included; a sentence that never ended fills every step.
    length = int(ended[0]) + 1 if ended.size else len(np.trim_zeros(ids, "b"))
    ids = ids[:length]
    output_tokens = [END_TOKEN if i == END_ID else token for i, token in zip(ids, translator.target_pieces(ids))]
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


def model_graph(model, skip=("Dropout",)):
    """The layers of a functional model and how they connect, as data to draw.

    Operations that are not layers (Keras's own mask computations) and layers
    of the `skip` types are left out; their inputs pass through to whatever
    they feed.

    Returns:
        dict: layer name -> (layer, names of the layers it reads, rank), where
        rank is the longest path from an input (inputs have rank 0).
    """
    parents = {}  # every node's operation name -> the operation names it reads
    operations = {}
    for nodes in model._nodes_by_depth.values():  # Keras's functional graph, by depth
        for node in nodes:
            operations[node.operation.name] = node.operation
            parents.setdefault(node.operation.name, [])
            for parent in node.parent_nodes:
                if parent.operation.name not in parents[node.operation.name]:
                    parents[node.operation.name].append(parent.operation.name)

    def kept(name):
        operation = operations[name]
        return isinstance(operation, keras.layers.Layer) and type(operation).__name__ not in skip or not parents[name]

    def kept_parents(name):
        found = []
        for parent in parents[name]:
            for ancestor in [parent] if kept(parent) else kept_parents(parent):
                if ancestor not in found:
                    found.append(ancestor)
        return found

    graph, ranks = {}, {}

    def rank(name):
        if name not in ranks:
            ranks[name] = 1 + max((rank(parent) for parent in kept_parents(name)), default=-1)
        return ranks[name]

    for name in operations:
        if kept(name):
            graph[name] = (operations[name], kept_parents(name), rank(name))
    return graph


def model_figure(model, skip=("Dropout",)):
    """Draws a functional model as boxes (layer name, type, output width) joined by
    arrows from the layers each one reads, inputs at the top. Layers that descend
    from the first input stand on the left, from the last on the right, from both
    in the middle.

    Returns:
        matplotlib.figure.Figure.
    """
    graph = model_graph(model, skip)
    order = [layer.name for layer in model.layers]
    inputs = sorted((name for name, (_, parents, _) in graph.items() if not parents), key=order.index)
    sides = {}

    def side(name):
        if name not in sides:
            parents = graph[name][1]
            sides[name] = inputs.index(name) / max(1, len(inputs) - 1) if not parents else np.mean([side(p) for p in parents])
        return sides[name]

    places, taken = {}, {}
    for name in sorted(graph, key=lambda name: (graph[name][2], side(name))):
        row, column = graph[name][2], round(side(name) * 4) / 4
        offset = taken.get((row, column), 0)
        taken[(row, column)] = offset + 1
        places[name] = (column * 3.0 + 0.9 * offset, -row)
    rows = 1 + max(rank for _, _, rank in graph.values())
    figure = Figure(figsize=(7.5, 0.75 * rows + 0.5))
    axes = figure.add_subplot()
    for name, (_, parents, _) in graph.items():
        for parent in parents:
            # From the bottom edge of the parent's box to the top edge of this one.
            (x, y), (parent_x, parent_y) = places[name], places[parent]
            axes.annotate(
                "",
                xy=(x, y + 0.28),
                xytext=(parent_x, parent_y - 0.28),
                arrowprops={"arrowstyle": "->", "color": "gray", "shrinkA": 0, "shrinkB": 0},
            )
    for name, (layer, _, _) in graph.items():
        width = layer.output.shape[-1] if hasattr(layer, "output") and not isinstance(layer.output, (list, tuple)) else None
        label = f"{name}\n{type(layer).__name__}" + (f" · {width}" if width else "")
        axes.text(
            *places[name],
            label,
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "tab:blue"},
        )
    xs = [x for x, _ in places.values()]
    axes.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    axes.set_ylim(-rows + 0.4, 0.6)
    axes.axis("off")
    axes.set_title(f"{model.name}: {len(graph)} layers, {model.count_params():,} parameters", fontsize=9)
    figure.tight_layout()
    return figure
