"""Reading the English–French corpus and splitting it by English sentence.

The corpus format is one pair a line, `English<TAB>French`, UTF-8, optionally
gzip-compressed. Every line is validated; an error names the file and line.
"""

import gzip
import io
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seqlib.errors import DataError, first_line
from seqlib.files import BUNDLED_CORPUS, write_atomically


def check_corpus_file(path):
    """Returns `path` as a Path, or raises DataError if there is no such file (the
    command line calls it before importing TensorFlow)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a corpus of 'English<TAB>French' lines)")
    return path


def read_pairs(path=BUNDLED_CORPUS, max_pairs=None):
    """Reads and validates a corpus file.

    Args:
        path: a `.txt` or `.txt.gz` file of `English<TAB>French` lines. A BOM and
            CRLF line ends are accepted.
        max_pairs: keep only the first N pairs. The bundled corpus is ordered from
            shortest to longest, so this keeps the shortest sentences.

    Returns:
        pandas DataFrame with columns `english` and `french`, one row a pair.

    Raises:
        DataError: missing or empty file, bad UTF-8, truncated gzip, or a line that
            is not `English<TAB>French` (the message names file and line number).
    """
    path = check_corpus_file(path)
    english, french = [], []
    opener = gzip.open if path.suffix == ".gz" else open
    line_number = 0
    try:
        with opener(path, "rb") as raw:
            for line_number, raw_line in enumerate(io.BufferedReader(raw), start=1):
                if max_pairs is not None and len(english) >= max_pairs:
                    break
                try:
                    line = raw_line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataError(
                        f"{path} line {line_number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                    ) from None
                if line_number == 1:
                    line = line.removeprefix("\ufeff")
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) != 2:
                    raise DataError(
                        f"{path} line {line_number}: expected 'English<TAB>French', got {len(fields)} field"
                        + ("s" if len(fields) != 1 else "")
                    )
                source, target = fields[0].strip(), fields[1].strip()
                if not source or not target:
                    side = "English" if not source else "French"
                    raise DataError(f"{path} line {line_number}: the {side} side is empty")
                english.append(source)
                french.append(target)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        where = f"past line {line_number}" if line_number else "its first line"
        raise DataError(f"{path}: cannot read {where}: {first_line(error)} (is the file truncated?)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or first_line(error)})") from None
    if not english:
        raise DataError(f"{path}: the file holds no sentence pairs")
    return pd.DataFrame({"english": english, "french": french})


@dataclass(frozen=True)
class Splits:
    """Train, validation and test pairs; no English sentence is in two of them."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split_pairs(pairs, validation_fraction, test_fraction, seed):
    """Splits pairs by English sentence, so a split never sees another's sources.

    All translations of one English sentence go to the same split; the test split
    therefore keeps every French translation as a reference.

    Args:
        pairs: DataFrame with `english` and `french` columns.
        validation_fraction, test_fraction: shares of distinct English sentences.
        seed: the shuffle seed; the same seed gives the same split.

    Returns:
        Splits.
    """
    sources = sorted(set(pairs["english"]))
    random.Random(seed).shuffle(sources)
    n_test = max(1, round(len(sources) * test_fraction))
    n_validation = max(1, round(len(sources) * validation_fraction))
    if n_test + n_validation >= len(sources):
        raise DataError(
            f"only {len(sources)} distinct English sentences: too few to split off "
            f"{n_validation} for validation and {n_test} for test"
        )
    split_of = {source: "test" for source in sources[:n_test]}
    split_of.update({source: "validation" for source in sources[n_test : n_test + n_validation]})
    labels = pairs["english"].map(lambda source: split_of.get(source, "train"))
    return Splits(
        train=pairs[labels == "train"].reset_index(drop=True),
        validation=pairs[labels == "validation"].reset_index(drop=True),
        test=pairs[labels == "test"].reset_index(drop=True),
    )


def write_pairs(pairs, path):
    """Writes pairs in the corpus format, `English<TAB>French` a line, unquoted.

    Written under a temporary name and renamed, so a kill never leaves half a file.
    """
    write_atomically(path, "".join(f"{english}\t{french}\n" for english, french in zip(pairs["english"], pairs["french"])))


def group_references(pairs):
    """Groups pairs by source sentence, keeping source order.

    Returns:
        (sources, references): a list of distinct English sentences and, for each,
        the list of its French translations.
    """
    grouped = pairs.groupby("english", sort=False)["french"].apply(list)
    return list(grouped.index), list(grouped.values)
