"""The bench's clock: one stopwatch, and the two ways the bench times a call."""

import time


class Stopwatch:
    """Seconds since it was made, from the monotonic high-resolution clock."""

    def __init__(self):
        self.started = time.perf_counter()

    def seconds(self):
        return time.perf_counter() - self.started


def mean_seconds(function, repeats):
    """Seconds a call of `function` takes, averaged over `repeats` calls after one
    untimed call (which traces whatever it compiles)."""
    function()
    stopwatch = Stopwatch()
    for _ in range(repeats):
        function()
    return stopwatch.seconds() / repeats


def first_call_s(function):
    """Seconds the first call of `function` takes (tracing included), to the millisecond."""
    stopwatch = Stopwatch()
    function()
    return round(stopwatch.seconds(), 3)
