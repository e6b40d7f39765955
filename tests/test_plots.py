"""The attention heatmap that notebooks draw with `seqlib.plot_attention`."""

import subprocess
import sys

import matplotlib
import numpy as np
import tensorflow as tf
from conftest import ROOT
from matplotlib.figure import Figure

import seqlib
from seqlib.text import END_TOKEN, detokenize


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
    assert detokenize(tf.ragged.constant([words])).numpy()[0] == translation
    assert axes.get_title().endswith(translation.decode())


def test_importing_seqlib_stays_light():
    # plot_attention is offered by the package but loaded on first use only.
    code = "import sys, seqlib; assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules; print(seqlib.__all__)"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert "plot_attention" in finished.stdout
