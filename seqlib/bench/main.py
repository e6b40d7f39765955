"""`python -m seqlib bench`: training and decoding speed, side by side in one run.

Every figure is measured here, now, on this machine, and so is the baseline: the
TensorFlow tutorial's model (`seqlib.models.tutorial`) trains on the same pairs
for the same seconds and decodes the same sentences in the same process, and
every ratio is computed from the two figures of this run (shared machines are
noisy, and CPUs differ: see bench/README.md). Nothing is asserted: the report
is the product.

The sections, in the order they run: the machine (seqlib.bench.machine), training
(training, baseline), decoding (decoding, greedy_loops), the transformer
(transformer), and the report (report).
"""

import functools

from seqlib.bench import machine
from seqlib.bench.baseline import measure_tutorial_training
from seqlib.bench.decoding import (
    Workload,
    count_parameters,
    greedy_of,
    make_translator,
    measure_beam,
    measure_greedy,
    measure_xla_greedy,
)
from seqlib.bench.greedy_loops import measure_greedy_loops
from seqlib.bench.report import format_report, ratios, write_json
from seqlib.bench.training import Sample, measure_training, training_variants
from seqlib.bench.transformer import measure_transformer
from seqlib.config import get_preset
from seqlib.data import corpus
from seqlib.precision import choose_precision, gpu_capabilities

# Sentences decoded: a trained run's first distinct test sources, or the sample's last pairs.
SENTENCES = 256


def run(quick=False, model_dir=None, preset="cpu", train_seconds=None, transformer_dir=None):
    """Measures seqlib and the tutorial's model side by side; returns the report (a dict).

    Args:
        quick: fewer variants and repeats (under 3 minutes on 2 CPU cores).
        model_dir: decode with this trained run (its test sentences); else with the
            model trained here.
        preset: the seqlib preset measured.
        train_seconds: seconds each model trains (default 10 quick, 60 otherwise).
        transformer_dir: decode with this trained transformer run; else with the
            preset's transformer trained here (its training speed is measured either way).
    """
    config = get_preset(preset)
    seconds = train_seconds if train_seconds is not None else (10 if quick else 60)
    report = machine.describe(preset, quick, seconds)
    report["matmul_peak_gflops"] = machine.matmul_peak_gflops()
    peaks = machine.peaks_by_precision(report["matmul_peak_gflops"])
    # What `train --config PRESET` would compute in here, measured beside float32.
    report["precision"], report["precision_reason"] = choose_precision(config.precision, report["cpu"], gpu_capabilities())

    sample = Sample.of(config, 6000 if quick else 30000)
    variants = training_variants(quick, report["precision"])
    figures, trained = measure_training(config, sample, seconds, variants, peaks)
    report.update(figures)
    tutorial, report["baseline"] = measure_tutorial_training(sample.pairs, seconds, peaks["float32"])

    # Decoding: a trained run decodes its own test sentences; without one, the
    # model trained above for `seconds` decodes sentences of the sample. The
    # tutorial's model (trained as long) decodes the same sentences either way.
    translator_of = functools.partial(make_translator, model_dir, trained, config, sample.vocabularies)
    translator = translator_of()
    if model_dir:
        sentences = list(corpus.read_pairs(f"{model_dir}/test.tsv").english.drop_duplicates()[:SENTENCES])
    else:
        sentences = list(sample.pairs.english[-SENTENCES:])
    report["decoding_model"] = model_dir or f"{preset} model trained {seconds:g} s here"
    workload = Workload.of(sentences, quick)
    greedy_64 = measure_greedy(report, workload, translator, tutorial)
    if not quick:
        measure_xla_greedy(report, workload, translator_of(jit_compile=True))
        measure_greedy_loops(report, workload, translator)
    # The bfloat16 projection only where the CPU computes bfloat16 natively (elsewhere
    # it is emulated and slower, so seqlib never chooses it there).
    beam_translators = {"": translator}
    if report["cpu"]["amx"] or report["cpu"]["avx512_bf16"]:
        bfloat16 = translator_of(bfloat16_projection=True)
        beam_translators["_bfloat16_projection"] = bfloat16
        report["greedy_sentences_per_s"]["batch_64_bfloat16_projection"] = round(
            workload.batch64_sentences_per_s(greedy_of(bfloat16)), 1
        )
    measure_beam(report, workload, beam_translators, widths=(4,) if quick else (4, 8))

    report["transformer"] = measure_transformer(preset, sample, seconds, workload, transformer_dir)
    report["parameters"] = count_parameters(model_dir, trained)
    report["ratios"] = ratios(report, greedy_64)
    report.update(machine.memory_figures(config))
    return report


def main(quick=False, json_file=None, model_dir=None, preset="cpu", train_seconds=None, transformer_dir=None):
    """Runs the bench, prints its report, and writes it as JSON to `json_file` if given; returns the report."""
    report = run(quick=quick, model_dir=model_dir, preset=preset, train_seconds=train_seconds, transformer_dir=transformer_dir)
    print(format_report(report))
    if json_file:
        write_json(report, json_file)
    return report
