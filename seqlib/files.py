"""Where seqlib's own files are, and writing files so that a kill never leaves half of one.

A leaf module (the standard library and seqlib.errors only): the run directory, the corpus reader, the
vocabulary and training all write through it, and the command line can use it
before TensorFlow or pandas is imported.

Every file is written under a temporary name beside its final one and renamed into
place, so a reader sees the old file or the new one, never half. A kill between the
two leaves only the temporary, which nothing reads and `remove_temporaries` deletes.
"""

import contextlib
import os
from pathlib import Path

from seqlib.errors import SeqlibError

_PACKAGE = Path(__file__).resolve().parent
# An installed seqlib (`pip install .`) carries the corpus as package data in
# seqlib/corpus/; a checkout has it in data/ at the top of the repository.
_INSTALLED_CORPUS = _PACKAGE / "corpus" / "fra.txt.gz"
# The corpus that ships with seqlib; a run directory names it "bundled".
BUNDLED_CORPUS = _INSTALLED_CORPUS if _INSTALLED_CORPUS.is_file() else _PACKAGE.parent / "data" / "fra.txt.gz"

# A prefix, not a suffix, because Keras chooses what to write from the suffix
# (`.keras`, `.weights.h5`): `partial-model.keras` is still a Keras file.
TEMPORARY_PREFIX = "partial-"
# What the atomic writer of earlier seqlib versions left: `config.json.tmp`.
_OLD_TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path):
    """The name `path` is written under before it is renamed into place: `partial-NAME` beside it."""
    path = Path(path)
    return path.with_name(TEMPORARY_PREFIX + path.name)


def is_temporary(path):
    """Whether `path` is a half-written file's name, one that no reader should take for a result."""
    name = Path(path).name
    return name.startswith(TEMPORARY_PREFIX) or name.endswith(_OLD_TEMPORARY_SUFFIX)


@contextlib.contextmanager
def replaced_atomically(path):
    """Yields the temporary path to write; renames it to `path` when the block ends.

    If the block raises, the temporary is deleted and `path` keeps its old content.
    """
    temporary = temporary_path(path)
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def write_atomically(path, text):
    """Writes a text file so that readers see the old or the new file, never half."""
    with replaced_atomically(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def remove_temporaries(*folders):
    """Deletes the temporaries a killed writer left in `folders` (not in their subfolders).

    Only a writer that holds the folder may call it: another process's temporary
    is deleted too, mid-write.
    """
    for folder in folders:
        if Path(folder).is_dir():
            for path in Path(folder).iterdir():
                if is_temporary(path) and path.is_file():
                    path.unlink(missing_ok=True)


def check_new_directory(out, what="export directory"):
    """Refuses a destination directory that holds anything, before a writer spends time on it."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SeqlibError(f"{out} exists and is not an empty directory; choose a new {what}")
