import json
import re
import shutil

import pandas as pd
import pytest
import tensorflow as tf

from seqlib.data.text import detokenize, normalize_reference, standardize
from seqlib.errors import SeqlibError
from seqlib.evaluation import scores
from seqlib.rundir import RunDir
from tests.helpers import run_main_here


class ScriptedTranslator:
    """Answers each source with a fixed translation and records what it was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def greedy(self, text, max_length):
        sources = [s.decode() for s in text.numpy()]
        self.asked.extend(sources)
        # The translator's shape for every search: (batch, n) translations and scores, n = 1 here.
        return {
            "translations": tf.constant([[self.answers.get(s, "Je ne sais pas.")] for s in sources]),
            "scores": tf.zeros([len(sources), 1]),
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
    result = scores.evaluate_run(tmp_path, pairs, translator=translator)
    assert result["bleu"] == pytest.approx(100.0) and result["chrf"] == pytest.approx(100.0)
    assert "nrefs:var" in result["bleu_signature"]


def test_each_source_is_translated_once_and_scored_against_all_references(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    result = scores.evaluate_run(tmp_path, pairs, translator=translator)
    assert sorted(translator.asked) == ["Go.", "I am cold.", "Who are you?"]
    assert result["n"] == 3
    examples = result["examples"].set_index("source")
    # Matching the first of two references is a perfect sentence.
    assert examples.loc["I am cold.", "sentence_bleu"] == pytest.approx(100.0)
    assert examples.loc["Who are you?", "sentence_bleu"] < 100.0


def test_references_get_the_apostrophes_the_model_input_gets():
    reference = "L\u00b4été, c\u02bcest\u00a0l\u2019hiver ?"
    assert normalize_reference(reference) == "L'été, c'est l'hiver ?"
    # The same text through the model's own standardize and detokenize.
    through_model = detokenize(tf.strings.split(standardize(tf.constant([reference])))).numpy()[0].decode()
    assert normalize_reference(reference) == through_model


@pytest.mark.parametrize("count", [0, 1, 3, 9, 10, 20])
def test_best_and_worst_never_show_a_sentence_twice(count):
    examples = pd.DataFrame({"source": [f"s{i}" for i in range(count)], "sentence_bleu": [float(i % 7) for i in range(count)]})
    best, worst = scores.best_and_worst(examples)
    assert not set(best.source) & set(worst.source)
    assert len(best) == min(5, (count + 1) // 2) and len(worst) == min(5, count // 2)
    if len(worst):
        assert best.sentence_bleu.min() >= worst.sentence_bleu.max()


def test_evaluate_prints_signature_best_and_worst_and_where_it_saved(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    # main() in this process: what is printed is tested here; how a command's process ends, by test_cli's subprocesses.
    finished = run_main_here("evaluate", "--model", run_copy, "--limit", 20)
    assert finished.returncode == 0, finished.stderr.decode()
    output = finished.stdout.decode()
    assert re.search(r"^BLEU \d+\.\d\d  chrF \d+\.\d\d", output, re.MULTILINE), output
    assert "20 distinct sources" in output
    assert re.search(r"^sacreBLEU: nrefs:\w+\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:", output, re.MULTILINE), output
    best = output.index("\nbest:\n")
    worst = output.index("\nworst:\n")
    assert best < worst
    for table in (output[best:worst], output[worst:]):
        assert re.search(r"source\s+references\s+hypothesis\s+sentence_bleu", table), table
    assert re.search(r"^BLEU by source length \(sentences\): 1-4 words \d+\.\d \(\d+\)", output, re.MULTILINE), output
    saved = run_copy / "evaluations" / "greedy-first20.json"
    assert output.rstrip().endswith(f"saved in {saved}")
    saved = json.loads(saved.read_text())
    assert saved["n"] == 20 and sum(bucket["sentences"] for bucket in saved["by_length"].values()) == 20


def test_fold_strips_accents_and_case():
    assert scores.fold("Qu'est-ce que l'Été ?") == "qu'est-ce que l'ete ?"


def test_saved_results_are_compared(tmp_path, tiny_run):
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    result = scores.evaluate_run(run_copy, pairs, translator=translator)
    path = scores.save_result(run_copy, result)
    assert path.parent == RunDir(run_copy).evaluations
    assert path.name == "greedy-pairs.json"
    table = scores.compare_runs([run_copy])
    assert table.loc[table.decoding == "greedy-pairs", "bleu"].iloc[0] == result["bleu"]
    # Short sentences only here: no 11+ words bucket, so no score for it.
    assert table.loc[table.decoding == "greedy-pairs", "tokenizer"].iloc[0] == "wordpiece"
    assert table["bleu_11plus_words"].isna().all()


def test_evaluations_with_other_settings_do_not_overwrite_each_other(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    pairs = write_pairs(tmp_path / "pairs.txt")
    translator = ScriptedTranslator({"I am cold.": "J'ai froid.", "Who are you?": "Qui es-tu ?", "Go.": "Va !"})
    full = scores.save_result(run_copy, scores.evaluate_run(run_copy, pairs, translator=translator))
    first = scores.save_result(run_copy, scores.evaluate_run(run_copy, pairs, limit=1, translator=translator))
    own = scores.save_result(run_copy, scores.evaluate_run(run_copy, translator=translator, limit=2))
    assert len({full, first, own}) == 3 and own.name == "greedy-first2.json"
    assert json.loads(first.read_text())["n"] == 1 and json.loads(full.read_text())["n"] == 3


def test_a_damaged_evaluation_file_is_named(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy)
    (run_copy / "evaluations").mkdir(exist_ok=True)
    (run_copy / "evaluations" / "greedy.json").write_text('{"bleu": 3')
    with pytest.raises(SeqlibError, match="greedy.json: not a readable evaluation"):
        scores.compare_runs([run_copy])


def test_a_run_without_evaluations_gets_a_row_saying_so(tmp_path, tiny_run):
    run_copy = tmp_path / "run"
    shutil.copytree(tiny_run, run_copy, ignore=shutil.ignore_patterns("evaluations"))
    table = scores.compare_runs([run_copy])
    assert len(table) == 1 and table.decoding.iloc[0].startswith("none yet")
    assert pd.isna(table.bleu.iloc[0])


def test_score_by_length_scores_each_bucket_of_source_length_alone():
    sources = ["Go.", "I am cold.", "Where is the red car now?", "Tom is here."]
    references = [["Va !"], ["J'ai froid."], ["Où est la voiture rouge maintenant ?"], ["Tom est ici."]]
    hypotheses = ["Va !", "J'ai froid.", "Où est la voiture ?", "Tom est ici."]
    table = scores.score_by_length(sources, references, hypotheses, buckets=((1, 3), (4, 5), (6, 9), (10, None)))
    assert list(table.index) == ["1-3 words", "6-9 words"]  # no sentence of 4-5 or 10+ words
    assert list(table["sentences"]) == [3, 1]
    assert table.loc["1-3 words", "bleu"] == pytest.approx(100.0)
    assert table.loc["6-9 words", "bleu"] < 100.0
    assert table.loc["6-9 words", "words"] == 6.0
    with pytest.raises(SeqlibError, match="one each"):
        scores.score_by_length(sources, references, hypotheses[:2])
