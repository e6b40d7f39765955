"""Where seqlib's own files are, and writing files so that a kill never leaves half of one.

A leaf module (standard library only): the run directory, the corpus reader and
the vocabulary all write through it, and the command line can use it before
TensorFlow or pandas is imported.
"""

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# An installed seqlib (`pip install .`) carries the corpus as package data in
# seqlib/corpus/; a checkout has it in data/ at the top of the repository.
_INSTALLED_CORPUS = _PACKAGE / "corpus" / "fra.txt.gz"
BUNDLED_CORPUS = _INSTALLED_CORPUS if _INSTALLED_CORPUS.is_file() else _PACKAGE.parent / "data" / "fra.txt.gz"


def write_atomically(path, text):
    """Writes a text file so that readers see the old or the new file, never half."""
    temporary = Path(str(path) + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
