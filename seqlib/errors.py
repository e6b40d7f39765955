"""Errors a user can fix: the command line prints them as one line, exit status 2."""


class SeqlibError(Exception):
    """Bad input from the user (data, flags, a run directory): the message says what and where."""


class DataError(SeqlibError):
    """A corpus file is missing, unreadable or malformed."""


class RunDirError(SeqlibError):
    """A run directory is missing, incomplete or from an incompatible seqlib."""
