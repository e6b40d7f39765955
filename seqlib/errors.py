"""Errors a user can fix: the command line prints them as one line, exit status 2."""


class SeqlibError(Exception):
    """Bad input from the user (data, flags, a run directory): the message says what and where."""


class DataError(SeqlibError):
    """A corpus file is missing, unreadable or malformed."""


class RunDirError(SeqlibError):
    """A run directory is missing, incomplete or from an incompatible seqlib."""


class LabError(SeqlibError):
    """The labs cannot go on here (a missing package, a bad lab parameter); the message says what to do."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback: in a notebook the
        # sentence is the whole story, and a traceback would bury it.
        return [f"{type(self).__name__}: {self}"]


def check_at_least_one(settings, names):
    """Refuses any of the named int settings below 1 (None, where a setting allows it, is left alone).

    Here rather than in seqlib/config.py because the families' settings, which
    seqlib/config.py imports, check their own counts with it too.
    """
    for name in names:
        value = getattr(settings, name)
        if value is not None and value < 1:
            raise SeqlibError(f"{name} must be at least 1, got {value}")


def first_line(error):
    """The first non-empty line of an underlying error's message.

    Libraries such as h5py, zlib and Keras write messages of several lines; a
    user error shows only the first, so the command line prints one line. A
    first line that ends in ":" announces the next one, which is kept too.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]
