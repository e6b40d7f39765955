"""The `gpu` preset's code path, run on a CPU: its exact architecture (1024 units) and
the precision a T4 gets (mixed float16, asked for: on a CPU `auto` would choose
otherwise), shrunk only through what a user can set too (`--max-pairs`, `--epochs`).
Trained by the command line, which turns oneDNN off for float16 before TensorFlow
loads (seqlib/hardware.py), as a user's run would. What only a real GPU can show is
in bench/gpu_check.sh."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from seqlib.hardware import CHOSEN_BY_SEQLIB, cpu_description
from seqlib.rundir import RunDir
from tests.helpers import run_seqlib

# One worker runs this module, so its module-scoped gpu_run fixture is made once.
pytestmark = [pytest.mark.xdist_group("gpu_run"), pytest.mark.core]

SENTENCES = ["I am cold.", "Go.", "Who are you?"]


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    """`train --config gpu --precision mixed_float16 --max-pairs 250 --epochs 1`, then
    resumed for a second epoch; returns the run and both commands' output."""
    run_dir = tmp_path_factory.mktemp("gpu_path") / "run"
    # An epoch: at most 300 steps or one pass (1 step here).
    args = ("train", "--config", "gpu", "--precision", "mixed_float16", "--max-pairs", "250", "--out", run_dir)
    logs = []
    for epochs in ("1", "2"):
        done = run_seqlib(*args, "--epochs", epochs, timeout=600)
        logs.append(done.stderr.decode() + done.stdout.decode())  # Keras's epoch lines are on stdout
        assert done.returncode == 0, logs[-1][-3000:]
    return run_dir, logs


@pytest.fixture(scope="module")
def gpu_translator(gpu_run):
    """The run's translator, loaded once: each load traces its searches anew (slow at 1,024 units in float16)."""
    from seqlib.decoding.loading import load_translator

    return load_translator(gpu_run[0])


def test_gpu_preset_trains_and_resumes_in_float16_with_finite_loss(gpu_run):
    run_dir, logs = gpu_run
    assert RunDir(run_dir).latest_checkpoint()[0] == 2
    assert "resuming from epoch 1" in logs[1]
    # oneDNN is turned off for float16 where it crawls: CPUs with AVX-512 (seqlib/hardware.py).
    seqlib_chooses = "TF_ENABLE_ONEDNN_OPTS" not in os.environ or CHOSEN_BY_SEQLIB in os.environ
    onednn_off = cpu_description()["avx512"] and seqlib_chooses
    for log in logs:
        assert "precision: mixed_float16 (as the run's settings say" in log, log[-3000:]
        assert ("oneDNN kernels are off" in log) == onednn_off, log[-3000:]
        losses = [float(value) for value in re.findall(r"\bloss: ([0-9.naninf]+)", log)]
        assert losses and np.isfinite(losses).all(), log[-3000:]


def test_gpu_preset_model_is_mixed_float16_with_float32_logits_and_cudnn_grus(gpu_run):
    from seqlib.decoding.loading import load_training_model
    from seqlib.models.gru import cudnn_eligible

    _, config, model = load_training_model(gpu_run[0])
    assert config.model.units == 1024 and config.precision == "mixed_float16"
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
