"""Training speed: seqlib's model of a preset, in target tokens a second, on a sample of the corpus.

Each variant (length bucketing, padding to the longest, XLA, the 16-bit precision
`train` would choose here, if any) trains a fresh model for the same seconds on the same pairs.
"""

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

    def new_dataset():
        return make_dataset(source_ids, target_ids, config.batch_size, shuffle_seed=1, bucketing=bucketing, repeat=True)

    with computing_in(precision):
        model = build_training_model(config, config.source_vocab_size, config.target_vocab_size)
        compile_model(model, config.replace(jit_compile=jit_compile))
    return model, tokens_per_s_for(seconds, model, new_dataset)


def tokens_per_s_for(seconds, model, new_dataset, untimed_steps=3):
    """Target (non-padding) tokens per second of `model.fit` for `seconds`, after
    `untimed_steps` steps that trace the training function.

    new_dataset: builds the endless, seeded tf.data.Dataset of ((context, target_in),
        target_out) to train on; called twice, for training and then to count the tokens
        of the timed steps (a dataset built anew repeats its seeded order; one read again
        shuffles anew).

    Through `fit`, as `train` and the tutorial train: its training function reads the
    dataset's iterator, so it is traced for any length (train_on_batch traces again for
    the first shapes it sees, and that tracing is not training).
    """
    timer = TimedSteps(seconds, untimed_steps)
    fit_until_stopped(model, new_dataset(), timer)
    timed = new_dataset().skip(untimed_steps).take(timer.timed_steps)
    tokens = sum(int(np.count_nonzero(target_out)) for _, target_out in timed.as_numpy_iterator())
    return tokens / timer.timed_seconds


def fit_until_stopped(model, dataset, callback):
    """`model.fit` on an endless `dataset` until `callback` sets `model.stop_training`."""
    # More steps than any timed run takes: the callback stops `fit` long before.
    model.fit(dataset, epochs=1, steps_per_epoch=10**9, shuffle=False, verbose=0, callbacks=[callback])


class TimedSteps(keras.callbacks.Callback):
    """Stops `fit` once the steps after the first `untimed` have taken `seconds`; counts
    those steps (timed_steps) and the seconds they took (timed_seconds)."""

    def __init__(self, seconds, untimed):
        super().__init__()
        self.seconds, self.untimed = seconds, untimed
        self.steps, self.timed_steps, self.timed_seconds, self.stopwatch = 0, 0, 0.0, None

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # waits for the step, in case Keras hands over its logs before they are computed
        self.steps += 1
        if self.steps == self.untimed:
            self.stopwatch = Stopwatch()
        elif self.steps > self.untimed:
            self.timed_steps, self.timed_seconds = self.steps - self.untimed, self.stopwatch.seconds()
            if self.timed_seconds >= self.seconds:
                self.model.stop_training = True
