"""What the graders of several labs feed learners' functions and check them with:
the seed, random target rows, a small untrained translator, numpy's log-softmax."""

import numpy as np

from seqlib.conventions import END_ID, START_ID

# Every grader draws its inputs from SEED plus an offset of its own, so a failure
# repeats exactly. Small shapes keep every check well under a second on a laptop CPU.
SEED = 20240611


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def random_targets(rng, batch_size, length, vocab_size=50):
    """int32 (batch, length) rows of [START] words… [END] then padding; word ids below vocab_size."""
    target = np.zeros((batch_size, length), np.int32)
    for row in range(batch_size):
        words = rng.integers(1, length - 1) if row else length - 2  # one row without padding
        target[row, 0] = START_ID
        target[row, 1 : 1 + words] = rng.integers(4, vocab_size, size=words)
        target[row, 1 + words] = END_ID
    return target


def small_model(source_vocab_size=30, target_vocab_size=40):
    """A small untrained GRU translator and its inference encoder: (model, encoder)."""
    from seqlib.config import TrainConfig
    from seqlib.models.gru import build_inference_models, build_training_model

    # replace() reaches the family's own settings (embedding_dim, units) as well as the shared ones.
    config = TrainConfig(name="check", dropout_rate=0.0).replace(embedding_dim=8, units=16)
    model = build_training_model(config, source_vocab_size, target_vocab_size)
    encoder = build_inference_models(model, config).encoder
    return model, encoder
