"""InputLines: lines handed out as they arrive, in batches of what has already come."""

import os

import pytest

from seqlib.cli.lines import InputLines


class Pipe:
    """A pipe whose writer a test can close; each end is closed exactly once."""

    def __init__(self):
        self.read_end, self.write_end = os.pipe()

    def write(self, data):
        os.write(self.write_end, data)

    def close_writer(self):
        if self.write_end is not None:
            os.close(self.write_end)
            self.write_end = None


@pytest.fixture
def pipe():
    pipe = Pipe()
    yield pipe
    pipe.close_writer()
    os.close(pipe.read_end)


def test_a_batch_takes_what_has_arrived_and_does_not_wait_for_more(pipe):
    lines = InputLines(pipe.read_end)
    pipe.write(b"one\ntwo\r\nthr")
    batches = lines.batches(size=64)
    # The writer is still open: a batch that waited to be full would hang here.
    assert next(batches) == [b"one", b"two\r"]
    pipe.write(b"ee\n")
    assert next(batches) == [b"three"]
    pipe.write(b"no line end")
    pipe.close_writer()
    assert list(batches) == [[b"no line end"]]


def test_batches_hold_at_most_size_lines():
    lines = InputLines.from_bytes(b"".join(b"%d\n" % number for number in range(7)))
    assert [len(batch) for batch in lines.batches(size=3)] == [3, 3, 1]


def test_blank_lines_are_lines():
    assert list(InputLines.from_bytes(b"\n\nx\n").batches(size=10)) == [[b"", b"", b"x"]]


def test_empty_only_when_the_input_has_ended(pipe):
    lines = InputLines(pipe.read_end)
    assert not lines.ended_empty(wait=0)  # still open: a line may come
    pipe.close_writer()
    assert lines.ended_empty(wait=0)
    assert InputLines.from_bytes(b"").ended_empty(wait=0)


def test_lines_read_while_checking_for_empty_input_are_kept(pipe):
    lines = InputLines(pipe.read_end)
    pipe.write(b"first\n")
    assert not lines.ended_empty(wait=5)
    pipe.write(b"second\n")
    pipe.close_writer()
    assert [line for batch in lines.batches(size=64) for line in batch] == [b"first", b"second"]
