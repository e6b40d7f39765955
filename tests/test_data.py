import gzip

import pytest

from seqlib.data import corpus
from seqlib.errors import DataError


def write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_bundled_corpus_reads_and_keeps_accents():
    pairs = corpus.read_pairs(max_pairs=500)
    assert len(pairs) == 500
    assert list(pairs.columns) == ["english", "french"]
    assert pairs.iloc[0].tolist() == ["Go.", "Va !"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("Hello.\tBonjour.\tExtra", "line 2: expected 'English<TAB>French', got 3 fields"),
        ("Hello. Bonjour.", "line 2: expected 'English<TAB>French', got 1 field"),
        ("\tBonjour.", "line 2: the English side is empty"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "pairs.txt", f"Go.\tVa !\n{line}\n")
    with pytest.raises(DataError, match=message) as error:
        corpus.read_pairs(path)
    assert str(path) in str(error.value)


def test_bom_crlf_and_blank_lines_are_accepted(tmp_path):
    path = write(tmp_path / "pairs.txt", "\ufeffGo.\tVa !\r\n\r\nHi.\tSalut !\r\n")
    pairs = corpus.read_pairs(path)
    assert pairs.values.tolist() == [["Go.", "Va !"], ["Hi.", "Salut !"]]


def test_bad_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "pairs.txt", b"Go.\tVa !\nHi.\tSal\xffut\n", mode="wb")
    with pytest.raises(DataError, match="line 2: not valid UTF-8"):
        corpus.read_pairs(path)


def test_missing_empty_and_truncated_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        corpus.read_pairs(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="no sentence pairs"):
        corpus.read_pairs(write(tmp_path / "empty.txt", ""))
    whole = gzip.compress(("Go.\tVa !\n" * 5000).encode())
    cut = write(tmp_path / "cut.txt.gz", whole[: len(whole) // 2], mode="wb")
    with pytest.raises(DataError, match="truncated"):
        corpus.read_pairs(cut)


def test_split_is_grouped_by_english_and_seeded():
    pairs = corpus.read_pairs(max_pairs=5000)
    splits = corpus.split_pairs(pairs, 0.1, 0.1, seed=7)
    train, validation, test = (set(split["english"]) for split in (splits.train, splits.validation, splits.test))
    assert not train & validation and not train & test and not validation & test
    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(pairs)
    # Every French translation of a test sentence stays with it as a reference.
    for source in list(test)[:50]:
        assert sorted(splits.test[splits.test.english == source].french) == sorted(pairs[pairs.english == source].french)
    again = corpus.split_pairs(pairs, 0.1, 0.1, seed=7)
    assert again.test.equals(splits.test)
    assert not corpus.split_pairs(pairs, 0.1, 0.1, seed=8).test.equals(splits.test)


def test_group_references_keeps_every_translation():
    pairs = corpus.read_pairs(max_pairs=10)
    sources, references = corpus.group_references(pairs)
    assert len(sources) == len(set(pairs.english))
    assert sum(len(refs) for refs in references) == len(pairs)


def test_written_pairs_read_back_unchanged(tmp_path):
    pairs = corpus.read_pairs(max_pairs=50)
    pairs.loc[0, "english"] = 'He said "hi".'
    pairs.loc[0, "french"] = "Il a dit « salut »."
    corpus.write_pairs(pairs, tmp_path / "pairs.tsv")
    assert corpus.read_pairs(tmp_path / "pairs.tsv").equals(pairs)


def test_write_pairs_is_atomic(tmp_path):
    class Unprintable:
        def __format__(self, spec):
            raise RuntimeError("killed mid-write")

    path = tmp_path / "pairs.tsv"
    good = corpus.read_pairs(max_pairs=5)
    corpus.write_pairs(good, path)
    bad = good.astype(object)
    bad.loc[3, "french"] = Unprintable()
    with pytest.raises(RuntimeError):
        corpus.write_pairs(bad, path)
    # The failed write left the previous file whole, and no temporary file behind.
    assert corpus.read_pairs(path).equals(good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.tsv"]


def test_gzip_errors_are_one_line(tmp_path):
    whole = gzip.compress(("Go.\tVa !\n" * 5000).encode())
    damaged = bytearray(whole)
    damaged[len(damaged) // 2] ^= 0xFF
    for name, content in (("cut.txt.gz", whole[:40]), ("flipped.txt.gz", bytes(damaged)), ("plain.txt.gz", b"not gzip")):
        with pytest.raises(DataError) as error:
            corpus.read_pairs(write(tmp_path / name, content, mode="wb"))
        assert str(tmp_path / name) in str(error.value) and "\n" not in str(error.value)
