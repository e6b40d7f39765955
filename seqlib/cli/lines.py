"""Lines of an input stream, handed out in batches as soon as they have arrived.

`translate` reads standard input this way so that it can serve as a co-process:
a program writes one line, reads the translation back, then writes the next.
Reading to the end of the input first, or waiting for a full batch, would wait
for lines that come only after the answer. Lines already waiting are batched,
so a file or a fast pipe is still translated many lines at a time.
"""

import os
import select
import time

# Bytes asked of the operating system a read: big enough for many lines of a file.
CHUNK_BYTES = 1 << 16


class InputLines:
    """The lines of a file descriptor, as bytes without their final b"\\n".

    A last line without a line end counts as a line; a b"\\r" before the
    b"\\n" is left for the caller (it strips text, not bytes).

    Args:
        fd: a readable file descriptor (a pipe, a terminal, a file), or None for
            an input given whole to `from_bytes`.
    """

    def __init__(self, fd):
        self.fd = fd
        self.lines = []  # complete lines not handed out yet
        self.partial = bytearray()  # bytes after the last line end
        self.ended = fd is None

    @classmethod
    def from_bytes(cls, data):
        """The lines of `data`, for an input that is not a file descriptor."""
        lines = cls(None)
        lines._take(data)
        lines._end()
        return lines

    def ended_empty(self, wait):
        """True when the input ends before its first line, as far as `wait` seconds show.

        Lines read meanwhile are kept for `batches`. False when a line came, or
        the input is still open after `wait` seconds (a slow writer, or a
        terminal): only the end of the input proves it empty.
        """
        deadline = time.monotonic() + wait
        while not self.lines and not self.ended and self._readable(max(0.0, deadline - time.monotonic())):
            self._read()
        return self.ended and not self.lines

    def batches(self, size):
        """Yields lists of at most `size` lines: each waits for one line, then
        takes the lines that have arrived without waiting for more."""
        while True:
            while not self.lines and not self.ended:
                self._read()
            while len(self.lines) < size and not self.ended and self._readable(0):
                self._read()
            if not self.lines:
                return
            batch, self.lines = self.lines[:size], self.lines[size:]
            yield batch

    def _readable(self, timeout):
        return bool(select.select([self.fd], [], [], timeout)[0])

    def _read(self):
        chunk = os.read(self.fd, CHUNK_BYTES)  # blocks until some bytes or the end arrive
        if chunk:
            self._take(chunk)
        else:
            self._end()

    def _take(self, chunk):
        if b"\n" not in chunk:  # part of a long line: do not split what came before again
            self.partial += chunk
            return
        pieces = chunk.split(b"\n")
        pieces[0] = bytes(self.partial) + pieces[0]
        self.lines.extend(pieces[:-1])
        self.partial = bytearray(pieces[-1])

    def _end(self):
        if self.partial:
            self.lines.append(bytes(self.partial))
            self.partial = bytearray()
        self.ended = True
