"""Training speed: seqlib's model of a preset, in target tokens a second, on a sample of the corpus.

Each variant (length bucketing, padding to the longest, XLA, mixed precision on a
GPU) trains a fresh model for the same seconds on the same pairs.
"""

import itertools
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from seqlib.bench.flops import fraction_of_peak, training_flops_per_target_token
from seqlib.bench.timer import Stopwatch
from seqlib.data import corpus, tokenizers
from seqlib.data.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.models.gru import compile_model
from seqlib.models.registry import build_training_model


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


def training_variants(quick, gpu):
    """The training variants measured, by name: options of `train_seqlib`."""
    variants = {"bucketing": dict(bucketing=True)}
    if not quick:
        variants["padding_to_longest"] = dict(bucketing=False)
        variants["bucketing_jit"] = dict(bucketing=True, jit_compile=True)
    if gpu:
        variants["bucketing_mixed_float16"] = dict(bucketing=True, mixed_precision=True)
    return variants


def measure_training(config, sample, seconds, variants, peak_gflops):
    """Trains each variant for `seconds`: (figures for the report, the first model that trained).

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
    figures = {
        "train_tokens_per_s": tokens_per_s,
        "model_flops_per_target_token": round(flops),
        "fraction_of_matmul_peak": fraction_of_peak(best_tokens_per_s(tokens_per_s), flops, peak_gflops),
    }
    return figures, trained


def best_tokens_per_s(tokens_per_s):
    """The fastest variant's figure (those that failed are strings, and skipped)."""
    return max(value for value in tokens_per_s.values() if isinstance(value, int | float))


def train_seqlib(config, source_ids, target_ids, seconds, bucketing=True, jit_compile=False, mixed_precision=False):
    """seqlib's model of `config` trained for `seconds`: (model, target tokens/s)."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        dataset = make_dataset(source_ids, target_ids, config.batch_size, shuffle_seed=1, bucketing=bucketing, repeat=True)
        model = build_training_model(config, config.source_vocab_size, config.target_vocab_size)
        compile_model(model, config.replace(jit_compile=jit_compile))
        return model, tokens_per_s_for(seconds, model, iter(dataset))
    finally:
        keras.mixed_precision.set_global_policy("float32")


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
