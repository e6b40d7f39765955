"""The precision training computes in: chosen from described hardware, said when training
starts, and a run trained in one precision used in another (bfloat16 here is emulated on
a CPU without it: tiny models only)."""

import json
import sys

import numpy as np
import pytest

from seqlib.config import TrainConfig, get_preset
from seqlib.errors import SeqlibError
from seqlib.hardware import CHOSEN_BY_SEQLIB, choose_onednn_for_precision
from seqlib.precision import choose_precision
from tests.helpers import run_main_here

# The trained run below is made once, on one worker.
pytestmark = pytest.mark.xdist_group("bfloat16_run")

AMX_XEON = {"model": "Intel Xeon", "cores": 2, "avx2": True, "avx512": True, "avx512_bf16": True, "amx": True}
AVX2_ONLY = {"model": "AMD EPYC", "cores": 2, "avx2": True, "avx512": False, "avx512_bf16": False, "amx": False}
T4, L4, A100 = (7, 5), (8, 9), (8, 0)


@pytest.mark.parametrize(
    ("cpu", "gpus", "expected"),
    [
        (AMX_XEON, (), "mixed_bfloat16"),
        (AVX2_ONLY | {"avx512_bf16": True}, (), "mixed_bfloat16"),
        (AVX2_ONLY, (), "float32"),
        (AVX2_ONLY | {"avx512": True}, (), "float32"),  # AVX-512 alone has no bfloat16
        (AVX2_ONLY, (T4,), "mixed_float16"),
        (AVX2_ONLY, (L4,), "mixed_bfloat16"),
        (AMX_XEON, (A100, A100), "mixed_bfloat16"),
        (AMX_XEON, (A100, T4), "mixed_float16"),  # the weakest GPU decides
        (AMX_XEON, ((6, 0),), "float32"),  # a P100: no 16-bit tensor cores; the GPU trains, not the CPU
    ],
)
def test_auto_picks_the_precision_the_hardware_computes_natively(cpu, gpus, expected):
    precision, reason = choose_precision("auto", cpu, gpus)
    assert precision == expected, reason
    assert reason  # said in the training log


def test_an_asked_precision_is_kept_and_an_unknown_one_refused():
    assert choose_precision("float32", AMX_XEON, (A100,)) == ("float32", "as asked")
    assert choose_precision("mixed_float16", AVX2_ONLY, ())[0] == "mixed_float16"
    with pytest.raises(SeqlibError, match="unknown precision 'float16'.*auto, float32, mixed_bfloat16, mixed_float16"):
        choose_precision("float16", AVX2_ONLY, ())
    with pytest.raises(SeqlibError, match="unknown precision"):
        get_preset("tiny").replace(precision="half")


def test_presets_choose_automatically_except_tiny():
    assert get_preset("cpu").precision == get_preset("gpu").precision == "auto"
    assert get_preset("cpu", "transformer").precision == "auto"
    assert get_preset("tiny").precision == "float32"  # the same numbers on every machine


def test_runs_from_before_the_choice_keep_their_precision():
    values = get_preset("tiny").to_dict()
    del values["precision"]
    assert TrainConfig.from_dict(values | {"mixed_precision": True}).precision == "mixed_float16"
    assert TrainConfig.from_dict(values | {"mixed_precision": False}).precision == "float32"


def test_onednn_is_turned_off_for_float16_on_avx512_cpus(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as before TensorFlow loads
    chosen_by_seqlib = {"TF_ENABLE_ONEDNN_OPTS": "1", CHOSEN_BY_SEQLIB: "1"}
    environ = dict(chosen_by_seqlib)
    assert choose_onednn_for_precision("mixed_float16", AMX_XEON, environ) == "0"
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    environ = {}  # TensorFlow's own default (oneDNN on AVX-512 CPUs) is overridden too
    assert choose_onednn_for_precision("mixed_float16", AMX_XEON, environ) == "0"
    # Left alone: other precisions, AVX2-only CPUs (float16 is no slower there with
    # oneDNN), and the user's own choice.
    for precision, cpu, environ in [
        ("mixed_bfloat16", AMX_XEON, dict(chosen_by_seqlib)),
        ("float32", AMX_XEON, dict(chosen_by_seqlib)),
        ("auto", AMX_XEON, dict(chosen_by_seqlib)),
        ("mixed_float16", AVX2_ONLY, dict(chosen_by_seqlib)),
        ("mixed_float16", AMX_XEON, {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    ]:
        before = dict(environ)
        assert choose_onednn_for_precision(precision, cpu, environ) is None
        assert environ == before


def test_too_late_for_onednn_once_tensorflow_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    environ = {"TF_ENABLE_ONEDNN_OPTS": "1", CHOSEN_BY_SEQLIB: "1"}
    assert choose_onednn_for_precision("mixed_float16", AMX_XEON, environ) is None
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def few_steps_losses(precision, steps=4):
    """The tiny model's training losses over a few steps on one fixed batch, computed in `precision`."""
    import keras
    import tensorflow as tf

    from seqlib.models.gru import compile_model
    from seqlib.models.registry import build_training_model
    from seqlib.precision import computing_in

    config = get_preset("tiny").replace(precision=precision)
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    context = tf.constant(rng.integers(1, 300, size=(16, 9)), tf.int32)
    target = tf.constant(rng.integers(1, 300, size=(16, 8)), tf.int32)
    with computing_in(precision):
        model = compile_model(build_training_model(config, 300, 300), config)
    return model, [float(model.train_on_batch([context, target[:, :-1]], target[:, 1:])[0]) for _ in range(steps)]


def test_a_few_steps_in_bfloat16_follow_float32():
    model, bfloat16 = few_steps_losses("mixed_bfloat16")
    assert model.get_layer("decoder_gru").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"  # logits, softmax and loss stay float32
    _, float32 = few_steps_losses("float32")
    # The first loss is the same untrained model's; bfloat16 keeps about 3 significant digits.
    assert bfloat16[-1] < bfloat16[0]
    np.testing.assert_allclose(bfloat16, float32, rtol=0.02)


@pytest.fixture(scope="module")
def bfloat16_run(tmp_path_factory):
    """The tiny preset trained one epoch in mixed bfloat16 by the command line's main."""
    run_dir = tmp_path_factory.mktemp("bfloat16") / "run"
    # With the recipe's flags too, which the run saves like the precision.
    args = ("train", "--config", "tiny", "--out", run_dir, "--max-pairs", "300", "--precision", "mixed_bfloat16")
    args += ("--learning-rate", "0.002", "--dropout", "0.1")
    done = run_main_here(*args, "--epochs", "1")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return run_dir, args, done.stderr.decode()


def test_training_says_its_precision_and_saves_the_choice(bfloat16_run):
    run_dir, _, stderr = bfloat16_run
    assert "precision: mixed_bfloat16 (as the run's settings say" in stderr
    saved = json.loads((run_dir / "config.json").read_text())["config"]
    assert (saved["precision"], saved["learning_rate"], saved["dropout_rate"]) == ("mixed_bfloat16", 0.002, 0.1)


def test_a_bfloat16_run_translates_in_float32_like_its_own_translator(bfloat16_run):
    import tensorflow as tf

    from seqlib.decoding.loading import build_translator, load_training_model, load_translator
    from seqlib.decoding.serving import translate_sentences
    from seqlib.precision import computes_in_float32

    run_dir = bfloat16_run[0]
    run, config, trained = load_training_model(run_dir)
    assert trained.get_layer("decoder_gru").compute_dtype == "bfloat16"  # as it was trained
    loaded = load_translator(run_dir)
    assert computes_in_float32(loaded.decoder.projection) and loaded.decoder.projection.kernel.dtype == "float32"
    from seqlib.data.vocabulary import load_vocabulary

    own = build_translator(trained, config, load_vocabulary(run.source_vocab), load_vocabulary(run.target_vocab))
    sentences = ["I am cold.", "Who are you?", "Go."]
    log_probs = []
    for translator in (loaded, own):
        context = translator.vectorize(tf.constant(sentences))
        logits, _ = translator.step(tf.fill([len(sentences)], 2), translator.encode(context))
        log_probs.append(tf.nn.log_softmax(logits[:, 3:]).numpy())
    # Stated tolerance: bfloat16's 8-bit mantissa moves next-token log-probabilities by at most 0.1 here.
    np.testing.assert_allclose(log_probs[0], log_probs[1], atol=0.1)
    assert all(isinstance(hypotheses[0][0], str) for hypotheses in translate_sentences(loaded, sentences, beam_width=2))


def test_a_bfloat16_run_resumes_in_float32(bfloat16_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(bfloat16_run[0], run_dir)  # the shared run stays as trained
    float32_args = [
        str(run_dir) if arg == bfloat16_run[0] else "float32" if arg == "mixed_bfloat16" else arg for arg in bfloat16_run[1]
    ]
    done = run_main_here(*float32_args, "--epochs", "2")
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    assert "resuming from epoch 1" in stderr and "precision: float32" in stderr
    assert "ignoring" not in stderr  # precision may change on resume
    assert json.loads((run_dir / "config.json").read_text())["config"]["precision"] == "float32"


@pytest.mark.parametrize(("cpu", "gpus", "expected"), [(AVX2_ONLY, (), "float32"), (AMX_XEON, (), "mixed_bfloat16")])
def test_the_cpu_preset_builds_its_model_in_the_precision_of_the_described_hardware(monkeypatch, capsys, cpu, gpus, expected):
    import keras
    import tensorflow as tf

    from seqlib.training import train as training

    monkeypatch.setattr(training, "cpu_description", lambda: cpu)
    monkeypatch.setattr(training, "gpu_capabilities", lambda: gpus)
    config = get_preset("cpu").replace(source_vocab_size=100, target_vocab_size=100)  # small: only the policy matters
    model = training.build_model(config, 100, 100, tf.distribute.get_strategy())
    assert f"precision: {expected} (chosen automatically: " in capsys.readouterr().err
    assert model.get_layer("decoder_gru").compute_dtype == expected.removeprefix("mixed_")
    assert model.get_layer("logits").compute_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # put back for the next model
