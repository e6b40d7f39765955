"""Notes to the person training: what a run decided and why, as it goes."""

import sys


def say(message):
    """Prints a note on stderr, so that stdout stays the command's result."""
    print(message, file=sys.stderr, flush=True)
