"""Model FLOPs per target token of training, seqlib's GRU model's and the tutorial's.

Counted from the layer sizes (pure arithmetic), so that a training speed in target
tokens/s becomes a fraction of the machine's measured matmul peak.
"""

from seqlib.models import tutorial


def training_flops_per_target_token(config, source_to_target_ratio=1.0, mean_source_length=8.0):
    """Multiply-adds of the forward pass per target token, times 3 (forward + backward) times 2 (FLOPs a MAC).

    Encoder work is counted per source token and scaled by the source/target length ratio.
    """
    embedding, units, vocab = config.model.embedding_dim, config.model.units, config.target_vocab_size
    gru = 3 * (embedding * units + units * units)
    encoder = 2 * gru + 2 * units * units  # both directions + attention keys
    decoder = gru + mean_source_length * (units + 2 * units) + 3 * units * units + units * vocab
    return 3 * 2 * (decoder + source_to_target_ratio * encoder)


def tutorial_flops_per_target_token(source_to_target_ratio=1.0, mean_source_length=8.0):
    """The same count for the tutorial's model (256 units, 5,000 words, one-head attention)."""
    units, vocab = tutorial.UNITS, tutorial.VOCABULARY_SIZE
    gru = 3 * (units * units + units * units)
    encoder = 2 * gru
    # Query and output projections a target token; key and value projections a source
    # token (so scaled by the length ratio); scores and weighted sum over the source.
    attention = 2 * units * units + source_to_target_ratio * 2 * units * units + 2 * mean_source_length * units
    decoder = gru + attention + units * vocab
    return 3 * 2 * (decoder + source_to_target_ratio * encoder)


def fraction_of_peak(tokens_per_s, flops_per_token, peak_gflops):
    """The share of the matmul peak that training at `tokens_per_s` uses, to 0.1 %."""
    return round(tokens_per_s * flops_per_token / (peak_gflops * 1e9), 3)
