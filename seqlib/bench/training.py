"""Training speed: seqlib's model of a preset, in target tokens a second, on a sample of the corpus.

Each variant (length bucketing, padding to the longest, XLA, the 16-bit precision
`train` would choose here, if any) trains a fresh model for the same seconds on the same pairs.
"""

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqlib.bench.flops import fraction_of_peak, training_flops_per_target_token
from seqlib.bench.timer import Stopwatch
from seqlib.data import corpus, tokenizers
from seqlib.data.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.models.gru import compile_model
from seqlib.models.registry import build_training_model
from seqlib.precision import FLOAT32, computing_in


@dataclass(frozen=True)
class Sample:
    """The pairs every model of the run trains on, and seqlib's vectorization of them."""

    pairs: pd.DataFrame  # columns english, french
    source_vocabulary: list
    target_vocabulary: list
    source_ids: object  # int32 RaggedTensor (pairs, s)
    target_ids: object  # int32 RaggedTensor (pairs, t)

    @classmethod
    def of(cls, config, count, seed=0):
        """`count` pairs drawn from the corpus, vectorized with vocabularies padded to the
        preset's sizes, so the embedding and output layers cost what they cost in real training."""
        pairs = corpus.read_pairs()
        pairs = pairs.sample(min(count, len(pairs)), random_state=seed)
        # Learned from the sample, words or pieces as the preset says (pieces make sentences longer).
        source, target = tokenizers.build_vocabularies(config, list(pairs.english), list(pairs.french))
        source += [f"<unused{i}>" for i in range(config.source_vocab_size - 2 - len(source))]
        target += [f"<unused{i}>" for i in range(config.target_vocab_size - 2 - len(target))]
        ids = vectorize_pairs(
            pairs.english,
            pairs.french,
            tokenizers.make_vectorizer(config.tokenizer, source, ragged=True),
            tokenizers.make_vectorizer(config.tokenizer, target, ragged=True),
        )
        return cls(pairs, source, target, *keep_shorter_than(*ids, config.max_tokens))

    @property
    def vocabularies(self):
        return self.source_vocabulary, self.target_vocabulary


def training_variants(quick, precision):
    """The training variants measured, by name: options of `train_seqlib`.

    precision: what `train` would choose here (seqlib.precision); where that is not
    float32, it is measured beside float32 in the same run.
    """
    variants = {"bucketing": dict(bucketing=True)}
    if not quick:
        variants["padding_to_longest"] = dict(bucketing=False)
        variants["bucketing_jit"] = dict(bucketing=True, jit_compile=True)
    if precision != FLOAT32:
        variants[f"bucketing_{precision}"] = dict(bucketing=True, precision=precision)
    return variants


def measure_training(config, sample, seconds, variants, peak_gflops):
    """Trains each variant for `seconds`: (figures for the report, the first model that trained).

    peak_gflops: {"float32": GFLOP/s, "bfloat16": GFLOP/s}; the fastest variant's model
    FLOPs are a share of the peak of its own precision (float16 counts as bfloat16's).
    A variant that fails (XLA may refuse a graph) is reported as a string, not hidden.
    """
    tokens_per_s, trained = {}, None
    for name, options in variants.items():
        try:
            model, speed = train_seqlib(config, sample.source_ids, sample.target_ids, seconds, **options)
            tokens_per_s[name] = round(speed)
            trained = trained or model
        except Exception as error:
            tokens_per_s[name] = f"failed: {type(error).__name__}: {str(error)[:200]}"
    flops = training_flops_per_target_token(config)
    fastest = best_variant(tokens_per_s)
    precision = variants[fastest].get("precision", FLOAT32)
    peak = peak_gflops["float32" if precision == FLOAT32 else "bfloat16"]
    figures = {
        "train_tokens_per_s": tokens_per_s,
        "model_flops_per_target_token": round(flops),
        "fastest_variant": fastest,
        "fraction_of_matmul_peak": fraction_of_peak(tokens_per_s[fastest], flops, peak),
    }
    return figures, trained


def best_tokens_per_s(tokens_per_s):
    """The fastest variant's figure (those that failed are strings, and skipped)."""
    return tokens_per_s[best_variant(tokens_per_s)]


def best_variant(tokens_per_s):
    """The name of the fastest variant (those that failed are strings, and skipped)."""
    return max((name for name, value in tokens_per_s.items() if isinstance(value, int | float)), key=tokens_per_s.get)


def train_seqlib(config, source_ids, target_ids, seconds, bucketing=True, jit_compile=False, precision=FLOAT32):
    """seqlib's model of `config` trained for `seconds` in `precision`: (model, target tokens/s)."""
    dataset = make_dataset(source_ids, target_ids, config.batch_size, shuffle_seed=1, bucketing=bucketing, repeat=True)
    with computing_in(precision):
        model = build_training_model(config, config.source_vocab_size, config.target_vocab_size)
        compile_model(model, config.replace(jit_compile=jit_compile))
    return model, tokens_per_s_for(seconds, model, iter(dataset))


def tokens_per_s_for(seconds, model, batches):
    """Target (non-padding) tokens per second of `model.train_on_batch` over `batches`
    (an iterator of ((context, target_in), target_out)) for `seconds`, after three
    untimed steps that trace the training function."""
    for (context, target_in), target_out in itertools.islice(batches, 3):
        model.train_on_batch((context, target_in), target_out)
    tokens, stopwatch = 0, Stopwatch()
    while stopwatch.seconds() < seconds:
        (context, target_in), target_out = next(batches)
        model.train_on_batch((context, target_in), target_out)
        tokens += int(np.count_nonzero(target_out.numpy()))
    return tokens / stopwatch.seconds()
