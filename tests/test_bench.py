"""The benchmark runs end to end and reports every figure (no speed is asserted)."""

import json

from conftest import run_seqlib


def test_bench_quick_on_the_tiny_preset_reports_every_figure(tmp_path):
    done = run_seqlib("bench", "--quick", "--config", "tiny", "--json", tmp_path / "bench.json", timeout=600)
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
    ):
        assert key in report, key
    assert set(report["train_tokens_per_s"]) >= {"bucketing", "padding_to_longest"}
    assert all(value > 0 for value in report["train_tokens_per_s"].values() if isinstance(value, float | int))
    assert b"train tokens/s" in done.stdout
    # Every decoding variant ran (one that fails reports a string instead of a
    # number), and the batch_64_numeric_* variants agreed with the compiled loop
    # on at least 95% of sentences (else they also report a string).
    for group in ("greedy_sentences_per_s", "beam_sentences_per_s"):
        for name, value in report[group].items():
            assert isinstance(value, float | int) and value > 0, (group, name, value)
