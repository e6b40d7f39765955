"""Decoding speed: greedy and beam search, one sentence at a time and 64 at a time.

seqlib's translator and the tutorial's decode the same sentences in the same run;
every figure is a mean over repeats after one untimed call that traces.
"""

from dataclasses import dataclass

import tensorflow as tf

from seqlib.bench.timer import first_call_s, mean_seconds
from seqlib.conventions import DEFAULT_ALPHA
from seqlib.decoding.loading import build_translator, load_training_model, load_translator

# Sentences a batch in the batched figures.
BATCH = 64
# A max_length of 0: each translator's own limit, so it stops when every sentence has ended.
OWN_LIMIT = 0


def make_translator(run_dir, model, config, vocabularies, **options):
    """The translator the bench decodes with: a trained run's, loaded from `run_dir`;
    without one, a translator of `model`, just trained here with `config` and
    `vocabularies` (source, target). options: Translator options (jit_compile,
    bfloat16_projection)."""
    if run_dir:
        return load_translator(run_dir, **options)
    return build_translator(model, config, *vocabularies, **options)


def count_parameters(run_dir, model):
    """The parameters of the model decoded: the trained run's in `run_dir`, else `model`."""
    return (load_training_model(run_dir)[2] if run_dir else model).count_params()


def greedy_of(translator):
    """seqlib's greedy search in the tutorial's shape, text (batch,) -> {"translation": (batch,)},
    so one timing helper serves both."""
    limit = tf.constant(OWN_LIMIT)
    return lambda text: {"translation": translator.greedy(text, limit)["translations"][:, 0]}


@dataclass(frozen=True)
class Workload:
    """The sentences every translator of the run decodes, and how often each figure repeats.

    The timing methods take `translate`: text (batch,) -> {"translation": (batch,)},
    the tutorial's shape (seqlib's translators take it through `greedy_of`).
    """

    singles: list  # string Tensors (1,): the batch-1 figures
    batches: list  # string Tensors (BATCH,): the batched figures
    repeats: int

    @classmethod
    def of(cls, sentences, quick):
        """Batch-1 and batch-64 inputs cycled from `sentences`; quick: fewer of both, and one repeat."""
        singles = [tf.constant([sentence]) for sentence in (sentences * 32)[: 8 if quick else 32]]
        batches = [tf.constant((sentences * 4)[start : start + BATCH]) for start in range(0, 128 if quick else 256, BATCH)]
        return cls(singles, batches, 1 if quick else 5)

    def first_call_s(self, translate):
        """Seconds of the first call on one sentence, tracing included."""
        return first_call_s(lambda: translate(self.singles[0])["translation"].numpy())

    def batch1_ms(self, translate):
        """Mean ms a sentence, one sentence at a time."""
        return round(
            1000 * mean_seconds(lambda: self.translate_all(translate, self.singles), self.repeats) / len(self.singles), 2
        )

    def batch64_sentences_per_s(self, translate):
        """Sentences a second, BATCH at a time (not rounded)."""
        return BATCH / (mean_seconds(lambda: self.translate_all(translate, self.batches), self.repeats) / len(self.batches))

    def beam_sentences_per_s(self, translator, width):
        """Sentences a second of beam search with `width` beams, BATCH at a time."""
        limit = tf.constant(OWN_LIMIT)

        def beam_all():
            for text in self.batches:
                translator.beam(text, tf.constant(width), tf.constant(1), tf.constant(DEFAULT_ALPHA), limit)[
                    "translations"
                ].numpy()

        return round(BATCH * len(self.batches) / mean_seconds(beam_all, self.repeats), 1)

    @staticmethod
    def translate_all(translate, inputs):
        return [translate(text)["translation"].numpy() for text in inputs]


def measure_greedy(report, workload, translator, tutorial):
    """Adds greedy decoding's figures to `report`, seqlib's and the tutorial's (in
    report["baseline"]) measured one after the other: first call, batch 1, batch 64,
    words a translation. Returns seqlib's batch-64 sentences/s unrounded, for the ratios."""
    ours, baseline = greedy_of(translator), report["baseline"]
    report["first_call_s"] = workload.first_call_s(ours)
    baseline["first_call_s"] = workload.first_call_s(tutorial.translate)
    report["greedy_batch1_ms"] = workload.batch1_ms(ours)
    baseline["greedy_batch1_ms"] = workload.batch1_ms(tutorial.translate)
    greedy_64 = workload.batch64_sentences_per_s(ours)
    report["greedy_sentences_per_s"] = {"batch_64": round(greedy_64, 1)}
    baseline["greedy_batch_64_sentences_per_s"] = round(workload.batch64_sentences_per_s(tutorial.translate), 1)
    report["mean_output_words"] = {
        "seqlib": mean_words([ours(text)["translation"] for text in workload.batches]),
        "baseline": mean_words([tutorial.translate(text)["translation"] for text in workload.batches]),
    }
    return greedy_64


def measure_xla_greedy(report, workload, xla_translator):
    """Adds greedy decoding compiled with XLA: first call, batch 1, batch 64."""
    xla_greedy = greedy_of(xla_translator)
    report["first_call_xla_s"] = workload.first_call_s(xla_greedy)
    report["greedy_batch1_ms_xla"] = workload.batch1_ms(xla_greedy)
    report["greedy_sentences_per_s"]["batch_64_xla"] = round(workload.batch64_sentences_per_s(xla_greedy), 1)


def measure_beam(report, workload, translators, widths):
    """Adds beam search's sentences/s for each width and each translator.

    translators: {name suffix: Translator}; "" for the default one.
    """
    report["beam_sentences_per_s"] = {}
    for width in widths:
        for name, translator in translators.items():
            report["beam_sentences_per_s"][f"beam_{width}_batch_64{name}"] = workload.beam_sentences_per_s(translator, width)


def mean_words(translations):
    """Mean words a translation over string Tensors (batch,)."""
    words = [len(text.split()) for batch in translations for text in batch.numpy()]
    return round(sum(words) / max(len(words), 1), 2)
