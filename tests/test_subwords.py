"""WordPiece subwords: learning a vocabulary, and tokenising that loses nothing."""

import pytest
import tensorflow as tf

from seqlib.data import corpus, subwords
from seqlib.data.text import detokenize, standardize
from seqlib.data.tokenizers import ids_to_words, make_vectorizer


def standardized(sentences):
    return [s.decode("utf-8") for s in standardize(tf.constant(sentences)).numpy()]


def round_trip(vectorizer, standardized_sentences):
    """What the translator writes for the pieces of these sentences, before and
    after the French detokenizer: (joined words, detokenized text) as lists of str."""
    ids = vectorizer(tf.constant(standardized_sentences))
    words = vectorizer.words(ids)
    joined = tf.strings.reduce_join(words, axis=-1, separator=" ")
    return [s.decode("utf-8") for s in joined.numpy()], [s.decode("utf-8") for s in detokenize(words).numpy()]


@pytest.fixture(scope="module")
def whole_corpus():
    pairs = corpus.read_pairs()
    return list(pairs["english"]), list(pairs["french"])


@pytest.mark.parametrize("side", ["english", "french"])
def test_detokenize_of_tokenize_is_exact_for_every_sentence_of_the_corpus(whole_corpus, side):
    sentences = whole_corpus[0] if side == "english" else whole_corpus[1]
    # A vocabulary that has seen every character (the learner keeps each as a piece);
    # pieces, not whole words, spell most of the corpus at this size.
    vectorizer = subwords.WordPieceVectorizer(subwords.learn_wordpiece(sentences, 4000), ragged=True)
    expected = standardized(sentences)
    joined, written = round_trip(vectorizer, expected)
    broken = [(want, got) for want, got in zip(expected, joined) if want != got]
    assert not broken, f"{len(broken)} of {len(expected)} sentences change, e.g. {broken[:3]}"
    # And so the text the translator writes is what the word tokenizer would write.
    assert written == [s.decode("utf-8") for s in detokenize(tf.strings.split(tf.constant(expected))).numpy()]


def test_accents_case_and_french_punctuation_survive_learning():
    french = ["C'est l'été à Noël.", "Qu'est-ce que c'est ?", "Écoute-moi !", "«Salut», dit-il."] * 20
    pieces = subwords.learn_wordpiece(french, 200, reserved=("[START]", "[END]"))
    assert pieces[:2] == ["[START]", "[END]"]
    for token in ["C'", "été", "Noël", "Qu'", "?", "É", "«", "»"]:
        assert token in pieces, token
    # Nothing lower-cased or stripped of its accent, as BERT's lower_case=True would.
    assert "ete" not in pieces and "noel" not in pieces


def test_rare_and_unseen_words_split_into_known_pieces():
    english = ["the cat sat", "the cats sat", "a dog ran", "dogs ran", "a rat sat"] * 10
    vectorizer = subwords.WordPieceVectorizer(subwords.learn_wordpiece(english, 60), ragged=True)
    tokens = vectorizer.get_vocabulary()
    ids = vectorizer(tf.constant(["the rats dog"])).to_list()[0]
    assert subwords.UNK_TOKEN not in [tokens[i] for i in ids]
    assert any(tokens[i].startswith(subwords.JOINER) for i in ids)
    # A character never seen in training has no piece: only its own word is [UNK].
    ids = vectorizer(tf.constant(["the ζ cat"])).to_list()[0]
    assert [tokens[i] for i in ids] == ["the", subwords.UNK_TOKEN, "cat"]


def test_word_and_wordpiece_vectorizers_are_called_alike():
    english = ["I am cold .", "I am warm .", "you are cold ."] * 5
    for kind, vocabulary in [
        ("word", ["I", "am", "cold", "."]),
        ("wordpiece", subwords.learn_wordpiece(english, 40)),
    ]:
        vectorizer = make_vectorizer(kind, vocabulary, ragged=True)
        ids = vectorizer(tf.constant(["I am cold ."]))
        assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int64
        table = tf.constant(["", "[UNK]", *vocabulary])
        words = ids_to_words(vectorizer, table, tf.cast(ids, tf.int32))
        assert [w.decode() for w in words.to_list()[0]] == ["I", "am", "cold", "."], kind
        padded = make_vectorizer(kind, vocabulary)(tf.constant(["I am cold .", "I"]))
        assert padded.shape == (2, int(ids.row_lengths()[0])) and int(padded[1, -1]) == 0


def test_learning_does_not_depend_on_corpus_order():
    english = ["the cat sat", "the cats sat", "a dog ran", "dogs ran", "a rat sat"] * 10
    assert subwords.learn_wordpiece(english, 60) == subwords.learn_wordpiece(english[::-1], 60)


@pytest.mark.core
def test_a_word_level_run_from_before_subwords_translates_evaluates_resumes_and_exports(cli_run, tmp_path):
    import json
    import shutil

    from tests.helpers import run_main_here

    old = tmp_path / "old-run"
    shutil.copytree(cli_run, old)
    saved = json.loads((old / "config.json").read_text(encoding="utf-8"))
    # What a seqlib from before subwords wrote: no tokenizer, no label smoothing.
    for field in ("tokenizer", "label_smoothing"):
        del saved["config"][field]
    (old / "config.json").write_text(json.dumps(saved), encoding="utf-8")

    def translated(run):
        done = run_main_here("translate", "--model", run, "--beam", "2", "--n-best", "2", "I am cold.", "Who are you?")
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    assert translated(old) == translated(cli_run)
    done = run_main_here("evaluate", "--model", old, "--limit", "5", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["n"] == 5, done.stderr.decode()
    done = run_main_here("train", "--config", "tiny", "--out", old, "--epochs", "2")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads((old / "config.json").read_text(encoding="utf-8"))["config"]["tokenizer"] == "word"
    done = run_main_here("export", "--model", old, "--out", tmp_path / "exported")
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.core
def test_wordpiece_runs_translate_score_and_plot_in_pieces(tiny_run, tiny_translator):
    import json

    from seqlib.evaluation.plots import attention_of
    from tests.helpers import run_main_here

    assert json.loads((tiny_run / "config.json").read_text(encoding="utf-8"))["config"]["tokenizer"] == "wordpiece"
    pieces = (tiny_run / "target_vocab.txt").read_text(encoding="utf-8").split("\n")
    assert pieces[:2] == ["[START]", "[END]"] and any(piece.startswith(subwords.JOINER) for piece in pieces)
    done = run_main_here("translate", "--model", tiny_run, "--beam", "4", "--n-best", "3", "I am cold.", "Tom is a zyzzyva.")
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0 and len(lines) == 6, done.stderr.decode()
    # Words joined from pieces: no joiner and no special token is ever written.
    assert not any(subwords.JOINER in line or "[" in line for line in lines)
    # An unseen word is read as pieces, not as one [UNK].
    source, _, _, _ = attention_of(tiny_translator, "Tom is a zyzzyva.")
    assert subwords.UNK_TOKEN not in source and any(token.startswith(subwords.JOINER) for token in source)
    assert "".join(piece.removeprefix(subwords.JOINER) for piece in tiny_translator.source_pieces("zyzzyva")) == "zyzzyva"
