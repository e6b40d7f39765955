"""A run's training and validation datasets, batched for the replicas that train on them.

The config's batch_size is per replica: the global batch is batch_size × replicas.
"""

import math
from dataclasses import dataclass

import tensorflow as tf

from seqlib.data import tokenizers
from seqlib.data.pipeline import keep_shorter_than, make_dataset, vectorize_pairs


@dataclass(frozen=True)
class TrainingData:
    """What model.fit reads.

    Attributes:
        train, validation: tf.data.Dataset of ((context (batch, s), target_in (batch, t)),
            target_out (batch, t)); train repeats when steps_per_epoch is set.
        steps_per_epoch: steps an epoch, or None for one pass over train.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    steps_per_epoch: int | None


def training_data(config, splits, source_tokens, target_tokens, replicas, completed):
    """Vectorizes, filters and batches the run's train and validation splits.

    Args:
        config: the run's TrainConfig.
        splits: corpus.Splits.
        source_tokens, target_tokens: the run's vocabularies.
        replicas: how many replicas each global batch is split across.
        completed: epochs already trained; a resumed run shuffles afresh, as the same
            seed would replay epoch 1's batches.

    Returns:
        TrainingData.
    """
    source_vectorizer = tokenizers.make_vectorizer(config.tokenizer, source_tokens, ragged=True)
    target_vectorizer = tokenizers.make_vectorizer(config.tokenizer, target_tokens, ragged=True)

    def dataset(pairs, shuffle_seed, repeat, validation=False):
        source, target = vectorize_pairs(pairs["english"], pairs["french"], source_vectorizer, target_vectorizer)
        source, target = keep_shorter_than(source, target, config.max_tokens)
        batch_size = config.batch_size * replicas
        if replicas > 1 and validation:
            # Batches must split evenly across replicas, and a small validation split
            # may hold less than one global batch per length bucket: one padded batch
            # of what there is (a multiple of the replicas) instead of none.
            batch_size = max(replicas, min(batch_size, int(source.nrows()) // replicas * replicas))
        return make_dataset(
            source,
            target,
            batch_size,
            shuffle_seed=shuffle_seed,
            repeat=repeat,
            bucketing=not (replicas > 1 and validation),
            drop_remainder=replicas > 1,
        )

    repeat = config.steps_per_epoch is not None
    steps_per_epoch = config.steps_per_epoch
    if repeat:
        # An epoch is steps_per_epoch steps or one pass, whichever is fewer, so that a
        # small --max-pairs does not repeat its few pairs hundreds of times an epoch.
        one_pass = math.ceil(len(splits.train) / (config.batch_size * replicas))
        steps_per_epoch = min(steps_per_epoch, one_pass)
    train = dataset(splits.train, config.seed + completed, repeat)
    validation = dataset(splits.validation, None, False, validation=True)
    return TrainingData(train, validation, steps_per_epoch)
