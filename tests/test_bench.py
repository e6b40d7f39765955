"""The benchmark runs end to end, baseline included, and reports every figure (no speed is asserted)."""

import json

from tests.helpers import run_seqlib


def test_bench_quick_on_the_tiny_preset_reports_every_figure_beside_the_baseline(tmp_path):
    done = run_seqlib(
        "bench", "--quick", "--config", "tiny", "--train-seconds", "1", "--json", tmp_path / "bench.json", timeout=600
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    for key in (
        "train_tokens_per_s",
        "greedy_sentences_per_s",
        "beam_sentences_per_s",
        "first_call_s",
        "peak_rss_mb",
        "model_flops_per_target_token",
        "fraction_of_matmul_peak",
        "matmul_peak_gflops",
        "baseline",
        "ratios",
    ):
        assert key in report, key
    # The machine is described, so a figure is never read without it.
    assert report["cpu"]["model"] and report["cpu"]["cores"] >= 1
    assert {"avx2", "avx512", "avx512_bf16", "amx"} <= set(report["cpu"])
    assert set(report["matmul_peak_gflops"]) == {"tensorflow", "numpy", "tensorflow_bfloat16"}
    # The precision `train --config tiny` uses here, and the variant the peak share is of.
    assert report["precision"] == "float32" and report["fastest_variant"] in report["train_tokens_per_s"]
    # The tutorial's model was trained and decoded in this run, and every ratio is
    # computed from the two figures of this run.
    baseline = report["baseline"]
    for key in ("train_tokens_per_s", "greedy_batch_64_sentences_per_s", "greedy_batch1_ms", "first_call_s"):
        assert baseline[key] > 0, key
    ratios = report["ratios"]
    best = max(report["train_tokens_per_s"].values())
    assert ratios["train_tokens_per_s"] == round(best / baseline["train_tokens_per_s"], 2)
    assert ratios["greedy_batch1_latency"] == round(report["greedy_batch1_ms"] / baseline["greedy_batch1_ms"], 2)
    assert all(value is not None and value > 0 for value in ratios.values()), ratios
    assert b"tutorial" in done.stdout and b"training, target tokens/s" in done.stdout
    # Every decoding variant ran (one that fails reports a string instead of a number).
    for group in ("train_tokens_per_s", "greedy_sentences_per_s", "beam_sentences_per_s"):
        for name, value in report[group].items():
            assert isinstance(value, float | int) and value > 0, (group, name, value)


def test_training_speed_counts_the_timed_steps_tokens_and_traces_once(monkeypatch):
    """tokens_per_s_for trains through fit: its step is traced for any length, never for one
    batch's shape, and the figure is the non-padding target tokens of the timed steps over their seconds."""
    import keras
    import numpy as np
    import tensorflow as tf

    from seqlib.bench import training
    from seqlib.data.pipeline import make_dataset

    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 30, size=400)  # several buckets, so batches of many shapes
    ids = tf.ragged.constant([list(rng.integers(1, 20, size=length)) for length in lengths], dtype=tf.int32)

    def new_dataset():
        return make_dataset(ids, ids, 16, shuffle_seed=1, repeat=True)

    traced = []

    class CountTraces(keras.layers.Layer):
        def call(self, x):
            traced.append(x.shape)  # Python runs here only while the step is traced
            return x

    context, target_in = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    hidden = CountTraces()(keras.layers.Embedding(20, 8)(target_in))
    model = keras.Model([context, target_in], keras.layers.Dense(20)(hidden))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    built = len(traced)

    class OneSecondATick:  # each reading of the clock is a second later: 3 timed steps make 3 s
        def __init__(self):
            self.ticks = 0

        def seconds(self):
            self.ticks += 1
            return float(self.ticks)

    monkeypatch.setattr(training, "Stopwatch", OneSecondATick)
    speed = training.tokens_per_s_for(3, model, new_dataset, untimed_steps=2)
    during = traced[built:]
    assert during and all(shape[:2] == (None, None) for shape in during), during
    assert int(model.optimizer.iterations) == 2 + 3
    trained = list(new_dataset().take(5).as_numpy_iterator())
    assert len({target_out.shape for _, target_out in trained}) > 1  # the shapes did vary
    timed = trained[2:]
    assert speed == sum(np.count_nonzero(target_out) for _, target_out in timed) / 3


def test_curve_moments_and_time_to_quality():
    from seqlib.bench.curve import scoring_moments, time_to_reach

    assert scoring_moments(600, 120) == [30, 60, 120, 240, 360, 480, 600]
    assert scoring_moments(50, 120) == [30, 50]
    points = [{"seconds": 60, "bleu": 10.0}, {"seconds": 120, "bleu": 20.0}, {"seconds": 180, "bleu": 22.0}]
    assert time_to_reach(points, 15.0) == 90.0  # halfway between the moments around it
    assert time_to_reach(points, 5.0) == 30.0  # from BLEU 0 at second 0
    assert time_to_reach(points, 22.0) == 180.0
    assert time_to_reach(points, 25.0) is None


def test_bench_curve_on_tiny_writes_json_and_png_with_the_time_to_quality(tmp_path):
    json_file = tmp_path / "figures" / "curve.json"  # its folder is made
    done = run_seqlib("bench", "--curve", "0.1", "--every", "0.1", "--config", "tiny", "--json", json_file, timeout=600)
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    report = json.loads(json_file.read_text())
    assert set(report["curves"]) == {"seqlib_gru", "tutorial"}
    for name, points in report["curves"].items():
        # Scored at the moments 1.5, 3 and 6 s of each one's training time, at the step that
        # crosses each (the first step, tracing included, may cross them all at once).
        assert 1 <= len(points) <= 3 and points[0]["seconds"] >= 1.5 and 6 <= points[-1]["seconds"] < 60, (name, points)
        assert all(0 <= point["bleu"] <= 100 and point["scoring_seconds"] >= 0 for point in points), points
        assert [point["seconds"] for point in points] == sorted(point["seconds"] for point in points)
    headline = report["headline"]
    assert headline["tutorial_final_bleu"] == report["curves"]["tutorial"][-1]["bleu"]
    assert report["test_sentences"] > 50 and report["cpu"]["model"]  # the tiny split's distinct test sources
    if headline["time_to_quality_ratio"] is not None:
        reached = headline["seqlib_minutes_to_tutorial_final_bleu"]
        assert headline["time_to_quality_ratio"] == round(headline["tutorial_minutes"] / reached, 2)
    assert json_file.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert b"time to quality" in done.stdout or b"did not reach" in done.stdout


def test_bench_curve_usage_errors_come_before_tensorflow():
    from tests.helpers import one_line_error, run_main_without_tensorflow

    for args, message in (
        (("--curve", "0"), "--curve must be a positive number of minutes"),
        (("--curve", "1", "--every", "-1"), "--every must be a positive number of minutes"),
        (("--curve", "1", "--quick"), "--curve trains its own models"),
        (("--with-transformer",), "--with-transformer goes with --curve"),
    ):
        done = run_main_without_tensorflow("bench", *args)
        assert done.returncode != 0 and message in one_line_error(done), (args, done.stderr)


def test_precision_ops_times_every_op_in_every_type_and_hoists_the_gru_exactly(tmp_path, monkeypatch):
    """bench/precision_ops.py, the README's command for which ops a 16-bit type slows down,
    at tiny shapes; its hoisted GRU computes what Keras's GRU computes."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "bench"))
    import keras
    import numpy as np
    import precision_ops

    gru = keras.layers.GRU(16, return_sequences=True)
    hoisted = precision_ops.gru_with_input_projection_hoisted(16, return_sequences=True)
    sequence = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    gru(sequence)
    hoisted(sequence)
    gru.cell.bias.assign(np.random.default_rng(1).normal(size=gru.cell.bias.shape))  # both biases matter
    hoisted.set_weights(gru.get_weights())
    np.testing.assert_allclose(hoisted(sequence), gru(sequence), atol=1e-5)

    for name, value in dict(BATCH=4, STEPS=3, UNITS=8, VOCAB=20, SOURCE=3).items():
        monkeypatch.setattr(precision_ops, name, value)
    quick = precision_ops.milliseconds
    monkeypatch.setattr(precision_ops, "milliseconds", lambda function: quick(function, most=1))
    monkeypatch.setattr(sys, "argv", ["precision_ops.py", "--json", str(tmp_path / "ops.json")])
    precision_ops.main()
    report = json.loads((tmp_path / "ops.json").read_text())
    assert report["cpu"]["model"]
    assert "decoder GRU, input projection hoisted" in report["ms"]
    for name, row in report["ms"].items():
        assert set(row) == {"float32", "bfloat16", "float16"} and all(ms > 0 for ms in row.values()), name
