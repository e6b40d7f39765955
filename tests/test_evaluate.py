import pytest
import tensorflow as tf

from seqlib import evaluate
from seqlib.rundir import RunDir


class ScriptedTranslator:
    """Answers each source with a fixed translation and records what it was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def greedy(self, text, max_length):
        sources = [s.decode() for s in text.numpy()]
        self.asked.extend(sources)
        return {"translation": tf.constant([self.answers[s] for s in sources]), "scores": tf.zeros([len(sources)])}


def write_pairs(path):
    path.write_text(
        "I am cold.\tJ'ai froid.\nI am cold.\tJ\u2019ai très froid.\nWho are you?\tQui êtes-vous ?\nGo.\tVa !\n",
        encoding="utf-8",
    )
    return path


def test_hypotheses_equal_to_a_reference_score_100(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai très froid.", "Who are you?": "Qui êtes-vous ?", "Go.": "Va !"})
    result = evaluate.evaluate_run(tmp_path, pairs, translator=translator)
    assert result["bleu"] == pytest.approx(100.0) and result["chrf"] == pytest.approx(100.0)
    assert "nrefs:var" in result["bleu_signature"]


def test_each_source_is_translated_once_and_scored_against_all_references(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    result = evaluate.evaluate_run(tmp_path, pairs, translator=translator)
    assert sorted(translator.asked) == ["Go.", "I am cold.", "Who are you?"]
    assert result["n"] == 3
    examples = result["examples"].set_index("source")
    # Matching the first of two references is a perfect sentence.
    assert examples.loc["I am cold.", "sentence_bleu"] == pytest.approx(100.0)
    assert examples.loc["Who are you?", "sentence_bleu"] < 100.0


def test_fold_strips_accents_and_case():
    assert evaluate.fold("Qu'est-ce que l'Été ?") == "qu'est-ce que l'ete ?"


def test_saved_results_are_compared(tmp_path, tiny_run):
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    result = evaluate.evaluate_run(tiny_run, pairs, translator=translator)
    path = evaluate.save_result(tiny_run, result)
    assert path.parent == RunDir(tiny_run).evaluations
    table = evaluate.compare_runs([tiny_run])
    assert table.loc[table.decoding == "greedy", "bleu"].iloc[0] == result["bleu"]
