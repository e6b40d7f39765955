"""The attention heatmap that notebooks draw with `seqlib.plot_attention`."""

import subprocess
import sys

import matplotlib
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

import seqlib
from seqlib.data.subwords import JOINER
from seqlib.data.text import END_TOKEN, detokenize
from tests.helpers import ROOT


def test_plot_attention_draws_generated_tokens_against_source_tokens(tiny_translator):
    matplotlib.use("Agg")  # no display in tests
    figure = seqlib.plot_attention(tiny_translator, "I am cold.")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    (image,) = axes.get_images()
    weights = np.asarray(image.get_array())
    source_tokens = [label.get_text() for label in axes.get_xticklabels()]
    generated_tokens = [label.get_text() for label in axes.get_yticklabels()]
    assert source_tokens == ["I", "am", "cold", "."]
    assert weights.shape == (len(generated_tokens), len(source_tokens))
    # Each generated token spreads its attention over the source tokens.
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-3)
    # The rows are the greedy translation's tokens, then its end token.
    words = [token for token in generated_tokens if token != END_TOKEN]
    assert generated_tokens[len(words) :] in ([], [END_TOKEN])
    translation = tiny_translator.translate(tf.constant(["I am cold."]))["translation"].numpy()[0]
    # Pieces (tiny_run is WordPiece) join into the words the translation writes.
    joined = " ".join(words).replace(" " + JOINER, "").split()
    assert detokenize(tf.ragged.constant([joined])).numpy()[0] == translation
    # A long title is wrapped onto lines.
    assert " ".join(axes.get_title().split()).endswith(" ".join(translation.decode().split()))


def test_importing_seqlib_stays_light():
    # plot_attention is offered by the package but loaded on first use only.
    code = "import sys, seqlib; assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules; print(seqlib.__all__)"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert "plot_attention" in finished.stdout


def test_model_figure_draws_every_layer_but_dropout_with_its_inputs():
    from seqlib.config import get_preset
    from seqlib.evaluation.plots import model_figure, model_graph
    from seqlib.models.registry import build_training_model

    model = build_training_model(get_preset("tiny"), 50, 60)
    graph = model_graph(model)
    assert set(graph) == {layer.name for layer in model.layers if type(layer).__name__ != "Dropout"}
    # Dropout passes its input through: the decoder GRU reads the target embedding.
    assert sorted(graph["decoder_gru"][1]) == ["encoder_bridge", "target_embedding"]
    assert sorted(graph["attention"][1]) == ["attention_keys", "context", "decoder_gru", "encoder_gru"]
    assert graph["context"][2] == graph["target_in"][2] == 0
    assert graph["logits"][2] == max(rank for _, _, rank in graph.values())
    figure = model_figure(model)
    assert isinstance(figure, Figure)
    boxes = [text.get_text().split("\n")[0] for text in figure.axes[0].texts if text.get_text()]  # arrows have no text
    assert sorted(boxes) == sorted(graph)
    transformer = build_training_model(get_preset("tiny", "transformer"), 50, 60)
    assert "decoder_block_0" in model_graph(transformer)
