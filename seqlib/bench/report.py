"""The bench's report: the printed table, and the JSON file (keys described in bench/README.md)."""

import json

from seqlib.bench.training import best_tokens_per_s


def ratio(ours, theirs):
    """ours / theirs to 0.01, or None where either is not a number (a variant that failed) or theirs is 0."""
    return round(ours / theirs, 2) if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs else None


def ratios(report, greedy_64):
    """seqlib's figures over the tutorial's, from this run. greedy_64: seqlib's batch-64 greedy sentences/s, unrounded."""
    baseline = report["baseline"]
    return {
        "train_tokens_per_s": ratio(best_tokens_per_s(report["train_tokens_per_s"]), baseline["train_tokens_per_s"]),
        "greedy_batch_64_sentences_per_s": ratio(greedy_64, baseline["greedy_batch_64_sentences_per_s"]),
        "greedy_batch1_latency": ratio(report["greedy_batch1_ms"], baseline["greedy_batch1_ms"]),
        "first_call": ratio(report["first_call_s"], baseline["first_call_s"]),
        "beam_4_to_our_greedy": ratio(report["beam_sentences_per_s"]["beam_4_batch_64"], greedy_64),
    }


def write_json(report, path):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)


def format_report(report):
    """The report as the lines `python -m seqlib bench` prints."""
    return "\n".join(machine_lines(report) + tutorial_lines(report) + transformer_lines(report) + variant_lines(report))


def machine_lines(report):
    cpu = report["cpu"]
    extensions = ", ".join(name for name in ("avx2", "avx512", "avx512_bf16", "amx") if cpu[name]) or "none"
    gpu = ", ".join(report["gpu"]) or "none"
    return [
        f"seqlib bench: {cpu['model']}, {cpu['cores']} cores ({extensions}), GPU: {gpu}; "
        f"preset {report['preset']}{' (quick)' if report['quick'] else ''}; each model trained {report['train_seconds']:g} s",
        f"  matmul peak, GFLOP/s            TensorFlow {report['matmul_peak_gflops']['tensorflow']}, "
        f"numpy {report['matmul_peak_gflops']['numpy']}, TensorFlow bfloat16 {report['matmul_peak_gflops']['tensorflow_bfloat16']}",
        f"  precision train chooses here    {report['precision']} ({report['precision_reason']}); "
        f"fastest training variant: {report['fastest_variant']}",
    ]


def tutorial_lines(report):
    """seqlib's figures beside the tutorial's, with their ratios."""
    baseline, ratios = report["baseline"], report["ratios"]
    lines = [f"  {'':<44} {'seqlib':>10} {'tutorial':>10} {'ratio':>7}"]

    def row(label, ours, theirs="", ratio=""):
        lines.append(f"  {label:<44} {ours!s:>10} {theirs!s:>10} {'' if ratio is None else ratio!s:>7}")

    row(
        "training, target tokens/s",
        best_tokens_per_s(report["train_tokens_per_s"]),
        baseline["train_tokens_per_s"],
        ratios["train_tokens_per_s"],
    )
    row("  model FLOPs per target token", report["model_flops_per_target_token"], baseline["model_flops_per_target_token"])
    row("  fraction of the matmul peak (its precision)", report["fraction_of_matmul_peak"], baseline["fraction_of_matmul_peak"])
    row(
        "greedy, batch 64, sentences/s",
        report["greedy_sentences_per_s"]["batch_64"],
        baseline["greedy_batch_64_sentences_per_s"],
        ratios["greedy_batch_64_sentences_per_s"],
    )
    row(
        "greedy, batch 1, ms a sentence",
        report["greedy_batch1_ms"],
        baseline["greedy_batch1_ms"],
        ratios["greedy_batch1_latency"],
    )
    row("first call (trace + run), s", report["first_call_s"], baseline["first_call_s"], ratios["first_call"])
    row("mean words a translation", report["mean_output_words"]["seqlib"], report["mean_output_words"]["baseline"])
    row("beam 4 / our greedy", "", "", ratios["beam_4_to_our_greedy"])
    lines.append(f"  decoding model: {report['decoding_model']}")
    return lines


def transformer_lines(report):
    """seqlib's GRU beside the transformer of the same preset."""
    transformer = report["transformer"]
    lines = [f"  {'GRU (seqlib) and transformer, same preset and pairs':<44} {'GRU':>10} {'transformer':>11}"]
    for label, ours, theirs in (
        ("parameters", report["parameters"], transformer["parameters"]),
        ("training, target tokens/s", best_tokens_per_s(report["train_tokens_per_s"]), transformer["train_tokens_per_s"]),
        (
            "greedy, batch 64, sentences/s",
            report["greedy_sentences_per_s"]["batch_64"],
            transformer["greedy_batch_64_sentences_per_s"],
        ),
        ("greedy, batch 1, ms a sentence", report["greedy_batch1_ms"], transformer["greedy_batch1_ms"]),
        (
            "beam 4, batch 64, sentences/s",
            report["beam_sentences_per_s"]["beam_4_batch_64"],
            transformer["beam_4_batch_64_sentences_per_s"],
        ),
        ("first call (trace + run), s", report["first_call_s"], transformer["first_call_s"]),
    ):
        lines.append(f"  {label:<44} {ours!s:>10} {theirs!s:>11}")
    lines.append(f"  transformer decoding model: {transformer['decoding_model']}")
    return lines


def variant_lines(report):
    """Every variant's figure, then memory."""
    lines = []
    for name, value in report["train_tokens_per_s"].items():
        lines.append(f"  train tokens/s     {name:<36} {value:>10}")
    for key, label in (("first_call_xla_s", "first call with XLA, s"), ("greedy_batch1_ms_xla", "greedy batch 1, XLA, ms")):
        if key in report:
            lines.append(f"  {label:<55} {report[key]:>10}")
    for name, value in report["greedy_sentences_per_s"].items():
        lines.append(f"  greedy sentences/s {name:<36} {value:>10}")
    for name, value in report["beam_sentences_per_s"].items():
        lines.append(f"  beam sentences/s   {name:<36} {value:>10}")
    lines.append(f"  peak RSS, MB {report['peak_rss_mb']:>52}")
    if "cudnn_gru" in report:
        lines.append(f"  cuDNN GRU kernel eligible       {report['cudnn_gru']}")
    if "gpu_peak_memory_mb" in report:
        lines.append(f"  GPU peak memory                 {report['gpu_peak_memory_mb']:>10} MB")
    return lines
