import json
import shutil

import pytest
import tensorflow as tf

from seqlib import evaluate
from seqlib.errors import SeqlibError
from seqlib.rundir import RunDir


class ScriptedTranslator:
    """Answers each source with a fixed translation and records what it was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def greedy(self, text, max_length):
        sources = [s.decode() for s in text.numpy()]
        self.asked.extend(sources)
        return {
            "translation": tf.constant([self.answers.get(s, "Je ne sais pas.") for s in sources]),
            "scores": tf.zeros([len(sources)]),
        }


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
    assert path.name == "greedy-pairs.json"
    table = evaluate.compare_runs([tiny_run])
    assert table.loc[table.decoding == "greedy-pairs", "bleu"].iloc[0] == result["bleu"]


def test_evaluations_with_other_settings_do_not_overwrite_each_other(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    full = evaluate.save_result(run_copy, evaluate.evaluate_run(run_copy, pairs, translator=translator))
    first = evaluate.save_result(run_copy, evaluate.evaluate_run(run_copy, pairs, limit=1, translator=translator))
    own = evaluate.save_result(run_copy, evaluate.evaluate_run(run_copy, translator=translator, limit=2))
    assert len({full, first, own}) == 3 and own.name == "greedy-first2.json"
    assert json.loads(first.read_text())["n"] == 1 and json.loads(full.read_text())["n"] == 3


def test_a_damaged_evaluation_file_is_named(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    (run_copy / "evaluations").mkdir(exist_ok=True)
    (run_copy / "evaluations" / "greedy.json").write_text('{"bleu": 3')
    with pytest.raises(SeqlibError, match="greedy.json: not a readable evaluation"):
        evaluate.compare_runs([run_copy])
