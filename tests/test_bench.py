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
    assert set(report["matmul_peak_gflops"]) == {"tensorflow", "numpy"}
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
