"""Training configurations: one frozen dataclass, and the named presets."""

import dataclasses
from dataclasses import dataclass

from seqlib.errors import SeqlibError
from seqlib.models.registry import check_architecture


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as config.json in the run directory."""

    name: str
    arch: str = "gru"  # model family: "gru" or "transformer" (seqlib.models.registry)
    max_pairs: int | None = None  # first N corpus pairs (shortest first); None = all
    validation_fraction: float = 0.02  # share of distinct English sentences held out
    test_fraction: float = 0.02  # share of distinct English sentences for the test split
    seed: int = 1234  # split, shuffle and initialisation seed
    max_tokens: int = 40  # longer training pairs are dropped; also the source truncation length
    source_vocab_size: int = 12000  # most frequent English tokens kept, with [UNK]
    target_vocab_size: int = 16000  # most frequent French tokens kept, with [UNK], [START], [END]
    min_count: int = 2  # tokens seen fewer times are [UNK]: once-seen words do not train
    embedding_dim: int = 256  # GRU: width of both embeddings (the transformer's are `units` wide)
    units: int = 512  # GRU units (the encoder has this many per direction); the transformer's model width
    num_layers: int = 3  # transformer: encoder blocks, and as many decoder blocks
    num_heads: int = 4  # transformer: attention heads (units must be a multiple)
    feed_forward_dim: int = 1024  # transformer: width of each block's feed-forward layer
    attention: bool = True  # GRU: False leaves the decoder only the thought vector (lab 3's experiment)
    dropout_rate: float = 0.2  # after embeddings and before the output layer
    batch_size: int = 128  # pairs a step
    learning_rate: float = 2e-3  # Adam
    epochs: int = 20  # upper bound; --time-budget usually ends cpu runs first
    steps_per_epoch: int | None = None  # at most this many steps an epoch; None = one pass over the training pairs
    mixed_precision: bool = False  # float16 compute on GPU
    jit_compile: bool = False  # XLA for the training step

    def __post_init__(self):
        # Refused when the config is made, before a run directory is touched. A transformer's
        # decoder reads the source only through cross-attention: without it, nothing of the source.
        if self.arch == "transformer" and not self.attention:
            raise SeqlibError(
                "attention=False is for arch 'gru' (its decoder still gets the thought vector); a transformer needs it"
            )

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SeqlibError(f"config has unknown fields {unknown}: was it written by a newer seqlib?")
        return cls(**values)


PRESETS = {
    # Seconds on a laptop CPU: tests and notebook CI.
    "tiny": TrainConfig(
        name="tiny",
        max_pairs=3000,
        validation_fraction=0.05,
        test_fraction=0.05,
        max_tokens=12,
        source_vocab_size=1000,
        target_vocab_size=1200,
        min_count=1,
        embedding_dim=64,
        units=128,
        dropout_rate=0.0,
        batch_size=64,
        learning_rate=3e-3,
        epochs=3,
    ),
    # A useful translator on 2 CPU cores in 20–30 minutes.
    # Output-layer size dominates CPU time, so the vocabularies are 8,000 words and
    # the GRUs 256 units; large batches keep both cores busy. An "epoch" is 300
    # steps (about 2.5 minutes here) so checkpoints and --time-budget stay fine-grained.
    "cpu": TrainConfig(
        name="cpu",
        source_vocab_size=8000,
        target_vocab_size=8000,
        embedding_dim=256,
        units=256,
        dropout_rate=0.1,
        batch_size=256,
        epochs=40,
        steps_per_epoch=300,
    ),
    # The full corpus on a Colab T4/L4/A100. An "epoch" is 300 steps (about half the
    # corpus) so checkpoints and --time-budget stay fine-grained; 30 of them are about
    # 15 passes over the corpus, the old cap. Not yet measured on a GPU: see bench/gpu_check.sh.
    "gpu": TrainConfig(
        name="gpu",
        embedding_dim=512,
        units=1024,
        source_vocab_size=16000,
        target_vocab_size=24000,
        batch_size=256,
        learning_rate=1e-3,
        epochs=30,
        steps_per_epoch=300,
        dropout_rate=0.3,
        mixed_precision=True,
    ),
}


# The transformer's presets: the same data, vocabularies, batches and budgets as
# the GRU preset of the same name, so the two compare at equal cost.
TRANSFORMER_PRESETS = {
    "tiny": PRESETS["tiny"].replace(
        arch="transformer", units=64, num_layers=2, num_heads=4, feed_forward_dim=128, learning_rate=2e-3
    ),
    # Sized by measured training speed on 2 AVX2 cores (bench.train_seqlib, 40 s each,
    # target tokens/s): 3 + 3 blocks 256 wide with 1,024-wide feed-forward layers ran
    # 1,337 (0.39x the GRU cpu preset's 3,451), 2 + 2 blocks with 512-wide ones 2,032,
    # and these 3 + 3 blocks 192 wide with 512-wide ones 2,226, with fewer parameters
    # than the GRU (7.1 M vs 7.8 M): the most blocks a 20-minute budget affords.
    "cpu": PRESETS["cpu"].replace(
        arch="transformer", embedding_dim=192, units=192, num_layers=3, num_heads=4, feed_forward_dim=512, learning_rate=1e-3
    ),
    # The transformer-base layout (Vaswani et al. 2017): 6 + 6 blocks, 512 wide. Not yet measured on a GPU.
    "gpu": PRESETS["gpu"].replace(
        arch="transformer",
        embedding_dim=512,
        units=512,
        num_layers=6,
        num_heads=8,
        feed_forward_dim=2048,
        dropout_rate=0.1,
        learning_rate=7e-4,
    ),
}


def check_training_limits(epochs, time_budget):
    """Refuses fewer than one epoch or a time budget that is not a positive number of
    seconds (pure Python: the command line checks before importing TensorFlow).

    Args:
        epochs: int or None (the preset's).
        time_budget: seconds or None (no budget).
    """
    if epochs is not None and epochs < 1:
        raise SeqlibError(f"--epochs must be at least 1, got {epochs}")
    if time_budget is not None and not time_budget > 0:
        raise SeqlibError(f"--time-budget must be a positive number of seconds, got {time_budget:g}")


def get_preset(name, arch="gru"):
    """Returns the named preset of an architecture, or says which names exist."""
    presets = TRANSFORMER_PRESETS if check_architecture(arch) == "transformer" else PRESETS
    if name not in presets:
        raise SeqlibError(f"unknown preset {name!r}: choose one of {', '.join(presets)}")
    return presets[name]
