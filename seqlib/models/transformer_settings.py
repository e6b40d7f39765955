"""The transformer family's own settings and each preset's sizes.

Pure Python, so the command line and `RunDir.load_config` read them before
TensorFlow loads; the layers themselves are in seqlib/models/transformer.py.
"""

from dataclasses import dataclass

from seqlib.errors import SeqlibError, check_at_least_one


@dataclass(frozen=True)
class TransformerSettings:
    """What only a transformer encoder–decoder has; saved under "model" in config.json."""

    units: int = 512  # model width: embeddings, attention and every block's output
    num_layers: int = 3  # encoder blocks, and as many decoder blocks
    num_heads: int = 4  # attention heads (units must be a multiple)
    feed_forward_dim: int = 1024  # width of each block's feed-forward layer
    tie_embeddings: bool = False  # the target embedding is also the output projection (transformer.PositionalEmbedding)

    def __post_init__(self):
        # Refused when the config is made, before the vocabularies are learned.
        check_at_least_one(self, ("units", "num_layers", "num_heads", "feed_forward_dim"))
        if self.units % 2:
            raise SeqlibError(f"a transformer's units must be even (sines and cosines), got {self.units}")
        if self.units % self.num_heads:
            raise SeqlibError(f"units ({self.units}) must be a multiple of num_heads ({self.num_heads})")


# Each preset's transformer sizes, and the shared training settings it changes: the
# same data, vocabularies, batches and budgets as the GRU preset of the same name,
# so the two families compare at equal cost.
PRESETS = {
    "tiny": (TransformerSettings(units=64, num_layers=2, num_heads=4, feed_forward_dim=128), {"learning_rate": 2e-3}),
    # Sized by measured training speed on 2 AVX2 cores (seqlib.bench.training.train_seqlib, 40 s each,
    # target tokens/s): 3 + 3 blocks 256 wide with 1,024-wide feed-forward layers ran
    # 1,337 (0.39x the GRU cpu preset's 3,451), 2 + 2 blocks with 512-wide ones 2,032,
    # and 3 + 3 blocks 192 wide (this preset) with 512-wide ones 2,226, with fewer parameters
    # than the GRU (7.1 M vs 7.8 M): the most blocks a 20-minute budget affords.
    # A peak learning rate of 2e-3 instead of 1e-3: 3 epochs of 300 steps are too few for the
    # lower one (1,200 s, 4,000 pieces, label smoothing 0.1, dropout 0.1, test split: 34.3 against
    # 29.1 greedy BLEU), and 3e-3 (the GRU's) did worse without dropout (38.0 / 40.1 greedy / beam 4
    # against 39.0 / 40.9; README "A small-data recipe"). Label smoothing 0.1 is what all runs had.
    # Feed-forward layers 256 wide instead of 512: 15 % more steps in the same 1,200 s and no
    # worse for it (40.7 / 42.2 against 40.0 / 41.9, one after the other); 2 heads instead of 4
    # changed nothing beyond the noise (38.6 / 40.7 against 39.0 / 40.9), so 4 stay.
    "cpu": (
        TransformerSettings(units=192, num_layers=3, num_heads=4, feed_forward_dim=256),
        {"learning_rate": 2e-3, "label_smoothing": 0.1},
    ),
    # The transformer-base layout (Vaswani et al. 2017): 6 + 6 blocks, 512 wide. Not yet measured on a GPU.
    "gpu": (
        TransformerSettings(units=512, num_layers=6, num_heads=8, feed_forward_dim=2048),
        {"dropout_rate": 0.1, "learning_rate": 7e-4},
    ),
}
