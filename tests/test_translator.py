import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from seqlib.decoding.serving import translate_sentences

SENTENCES = ["Go.", "I am cold.", "Who are you?", "", "We won!", "   ", "Tom is here."]


def test_greedy_traces_once_for_new_batch_sizes_and_lengths(tiny_translator):
    greedy = tiny_translator.greedy
    greedy(tf.constant(["Go."]), tf.constant(0))
    traced = greedy.experimental_get_tracing_count()
    for size in (1, 3, 17):
        sentences = [("I am cold and tired " * (1 + i % 4)).strip() for i in range(size)]
        assert greedy(tf.constant(sentences), tf.constant(0))["translations"].shape == (size, 1)
    assert greedy.experimental_get_tracing_count() == traced


def test_beam_traces_once_for_new_widths(tiny_translator):
    beam = tiny_translator.beam
    beam(tf.constant(["Go."]), tf.constant(2), tf.constant(1), tf.constant(0.6), tf.constant(0))
    traced = beam.experimental_get_tracing_count()
    for width, sentences in ((1, ["Go."]), (4, ["Go.", "I am cold."]), (8, ["Hi."] * 5)):
        out = beam(tf.constant(sentences), tf.constant(width), tf.constant(width), tf.constant(0.6), tf.constant(0))
        assert out["translations"].shape == (len(sentences), width)
    assert beam.experimental_get_tracing_count() == traced


def test_empty_inputs_give_empty_outputs_in_order(tiny_translator):
    out = [hyps[0][0] for hyps in translate_sentences(tiny_translator, SENTENCES)]
    assert len(out) == len(SENTENCES)
    assert out[3] == "" and out[5] == ""


def test_an_empty_batch_gives_empty_outputs(tiny_translator):
    # e.g. an exported model's signature called with no sentences.
    no_text = tf.constant([], tf.string)
    assert tiny_translator.translate(no_text)["translation"].shape == (0,)
    assert tiny_translator.greedy(no_text, tf.constant(0))["attention"].shape[0] == 0
    assert tiny_translator.translate_beam(no_text, tf.constant(3), tf.constant(2))["scores"].shape == (0, 2)
    sampled = tiny_translator.sample(no_text, tf.constant(1.0), tf.constant(0), tf.constant(1), tf.constant(0))
    assert sampled["translations"].shape == (0, 1)


@pytest.mark.core
def test_beam_one_equals_greedy_on_the_model(tiny_translator):
    greedy = [h[0][0] for h in translate_sentences(tiny_translator, SENTENCES)]
    beam = [h[0][0] for h in translate_sentences(tiny_translator, SENTENCES, beam_width=1, alpha=0.0)]
    assert greedy == beam


def test_attention_weights_for_plotting(tiny_translator):
    out = tiny_translator.greedy(tf.constant(["I am cold."]), tf.constant(0))
    attention = out["attention"].numpy()[0]
    assert attention.shape[0] == out["tokens"].shape[1]
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, atol=1e-4)


@pytest.mark.core
def test_export_runs_without_seqlib_and_matches(tiny_export, tiny_translator, tmp_path):
    expected_greedy = [h[0][0] for h in translate_sentences(tiny_translator, SENTENCES)]
    expected_beam = [[text for text, _ in h] for h in translate_sentences(tiny_translator, SENTENCES, beam_width=3, n_best=2)]
    script = f"""
import importlib.util, json, sys
import tensorflow as tf, tensorflow_text  # noqa: F401  registers the text ops
assert importlib.util.find_spec("seqlib") is None, "seqlib must not be importable here"
model = tf.saved_model.load({str(tiny_export)!r})
text = tf.constant({SENTENCES!r})
greedy = [t.decode() for t in model.signatures["translate"](text=text)["translation"].numpy()]
beam = model.signatures["translate_beam"](text=text, beam_width=tf.constant(3), n_best=tf.constant(2))
beam = [[t.decode() for t in row] for row in beam["translations"].numpy()]
print(json.dumps({{"greedy": greedy, "beam": beam}}))
"""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["greedy"] == expected_greedy
    assert result["beam"] == expected_beam


def test_exported_model_survives_random_unicode(tiny_export):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from fuzz_export import fuzz

    fuzz(str(tiny_export), count=300, seed=1)  # raises on a crash, or on an output missing or not UTF-8


def test_xla_greedy_gives_the_same_translations(tiny_run, tiny_translator):
    from seqlib.decoding.loading import load_translator

    xla = load_translator(tiny_run, jit_compile=True)
    for sentences in (["I am cold."], ["Go.", "", "Who are you, my friend?"]):
        text = tf.constant(sentences)
        expected = tiny_translator.greedy(text, tf.constant(0))
        got = xla.greedy(text, tf.constant(0))
        assert got["translations"].numpy().tolist() == expected["translations"].numpy().tolist()
        assert got["attention"].shape == expected["attention"].shape
        np.testing.assert_allclose(got["scores"].numpy(), expected["scores"].numpy(), atol=1e-3)


def test_bfloat16_projection_translates_like_float32(tiny_run, tiny_translator):
    from seqlib.decoding.loading import load_translator

    bfloat16 = load_translator(tiny_run, bfloat16_projection=True)
    assert bfloat16.bfloat16_kernel is not None and bfloat16.bfloat16_kernel.dtype == tf.bfloat16
    text = tf.constant(["I am cold.", "Who are you?", "We won!", "Go.", "I like cats.", "It is raining.", "Help me.", "Thanks."])
    expected = tiny_translator.greedy(text, tf.constant(0))
    got = bfloat16.greedy(text, tf.constant(0))
    # Rounding the logits to bfloat16 may flip a near tie, rarely: most sentences agree.
    same = got["translations"].numpy() == expected["translations"].numpy()
    assert same.sum() >= 6
    # Where the words agree, so do their log-probabilities, up to bfloat16's rounding.
    np.testing.assert_allclose(got["scores"].numpy()[same], expected["scores"].numpy()[same], atol=0.5)


def test_an_empty_input_translates_to_empty_text_with_score_0(tiny_translator):
    text = tf.constant(["", "I am cold.", "   "])
    beam = tiny_translator.beam(text, tf.constant(3), tf.constant(2), tf.constant(0.6), tf.constant(0))
    greedy = tiny_translator.greedy(text, tf.constant(0))
    for translations, scores in ((beam["translations"], beam["scores"]), (greedy["translations"], greedy["scores"])):
        translations, scores = translations.numpy(), scores.numpy()
        for row in (0, 2):
            assert np.all(translations[row] == b"") and np.all(scores[row] == 0)
        assert np.all(translations[1] != b"") and np.all(scores[1] < 0)
