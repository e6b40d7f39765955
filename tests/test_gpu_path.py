"""The `gpu` preset's code path, run on a CPU: its exact architecture (1024 units) and
precision policy (mixed float16), shrunk only through what a user can set too
(`--max-pairs`, `--epochs`). What only a real GPU can show is in bench/gpu_check.sh."""

import numpy as np
import pytest
import tensorflow as tf

from seqlib.config import get_preset
from seqlib.rundir import RunDir

# One worker runs this module, so its module-scoped gpu_run fixture is made once.
pytestmark = [pytest.mark.xdist_group("gpu_run"), pytest.mark.core]

SENTENCES = ["I am cold.", "Go.", "Who are you?"]


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    """`train --config gpu --max-pairs 250 --epochs 1`, then resumed for a second epoch."""
    import keras

    from seqlib.training.train import train

    run_dir = tmp_path_factory.mktemp("gpu_path") / "run"
    config = get_preset("gpu").replace(max_pairs=250)  # an epoch: at most 300 steps or one pass (1 step here)
    _, first = train(config.replace(epochs=1), run_dir, verbose=0)
    _, resumed = train(config.replace(epochs=2), run_dir, verbose=0)
    assert keras.mixed_precision.global_policy().name == "float32", "training left its policy behind"
    return run_dir, first.history | {"resumed_" + key: value for key, value in resumed.history.items()}


@pytest.fixture(scope="module")
def gpu_translator(gpu_run):
    """The run's translator, loaded once: each load traces its searches anew (slow at 1,024 units in float16)."""
    from seqlib.decoding.loading import load_translator

    return load_translator(gpu_run[0])


def test_gpu_preset_trains_and_resumes_with_finite_loss(gpu_run):
    run_dir, history = gpu_run
    assert RunDir(run_dir).latest_checkpoint()[0] == 2
    for key in ("loss", "val_loss", "resumed_loss", "resumed_val_loss"):
        assert np.isfinite(history[key]).all(), (key, history[key])


def test_gpu_preset_model_is_mixed_float16_with_float32_logits_and_cudnn_grus(gpu_run):
    from seqlib.decoding.loading import load_training_model
    from seqlib.models.gru import cudnn_eligible

    _, config, model = load_training_model(gpu_run[0])
    assert config.model.units == 1024 and config.mixed_precision
    assert model.get_layer("decoder_gru").dtype_policy.name == "mixed_float16"
    assert model.get_layer("decoder_gru").compute_dtype == "float16"
    assert model.get_layer("logits").compute_dtype == "float32"
    eligible = cudnn_eligible(model)
    assert len(eligible) == 3 and all(eligible.values()), eligible


def test_gpu_preset_translates_greedy_and_beam_with_float32_logits(gpu_translator):
    from seqlib.decoding.serving import translate_sentences

    translator = gpu_translator
    context = translator.vectorize(tf.constant(SENTENCES))
    logits, _ = translator.step(tf.fill([len(SENTENCES)], 2), translator.encode(context))
    assert logits.dtype == tf.float32 and np.isfinite(logits.numpy()[:, 3:]).all()
    greedy = [hypotheses[0][0] for hypotheses in translate_sentences(translator, SENTENCES)]
    beam = list(translate_sentences(translator, SENTENCES, beam_width=4, n_best=2))
    assert all(isinstance(text, str) for text in greedy)
    assert [len(hypotheses) for hypotheses in beam] == [2] * len(SENTENCES)
    assert all(first[1] >= second[1] for first, second in beam)


def test_gpu_preset_export_reloads_and_translates_like_the_translator(gpu_run, gpu_translator, tmp_path):
    from seqlib.decoding.export import export

    translator = gpu_translator
    text = tf.constant(SENTENCES)
    reloaded = tf.saved_model.load(str(export(gpu_run[0], tmp_path / "export")))
    exported = reloaded.signatures["translate"](text=text)["translation"].numpy().tolist()
    assert exported == translator.translate(text)["translation"].numpy().tolist()
    beam = reloaded.signatures["translate_beam"](text=text, beam_width=tf.constant(3), n_best=tf.constant(2))
    expected = translator.translate_beam(text, tf.constant(3), tf.constant(2))
    assert beam["translations"].numpy().tolist() == expected["translations"].numpy().tolist()
