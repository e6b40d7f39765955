"""What more than one verb checks in its arguments, and the help texts they share."""

import argparse

from seqlib.conventions import DEFAULT_ALPHA
from seqlib.errors import SeqlibError

ALPHA_HELP = f"beam search length penalty exponent (default {DEFAULT_ALPHA})"
BFLOAT16_HELP = (
    "project onto the vocabulary in bfloat16: beam search 15-25%% faster on CPUs with AMX/AVX512-BF16 "
    "(greedy about the same), slower elsewhere; a near tie between two words may go the other way"
)


class UsageError(SeqlibError):
    """A flag or an input that the command cannot use."""


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def check_beam_fits(translator, beam_width):
    """More beams than target words cannot be filled; say so before decoding."""
    words = int(translator.target_tokens.shape[0])
    if beam_width is not None and beam_width > words:
        raise UsageError(f"--beam {beam_width} is more than the model's {words} target words")
