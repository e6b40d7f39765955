"""Run directories that move: config.json names the corpus relative to the run or as
seqlib's bundled corpus, so a copied run resumes, translates, evaluates and exports."""

import json
import shutil

import pytest
import tensorflow as tf

from seqlib.config import get_preset
from seqlib.errors import SeqlibError
from seqlib.files import BUNDLED_CORPUS
from seqlib.rundir import BUNDLED, RunDir
from tests.helpers import hparams_records, summaries


@pytest.mark.core
def test_a_copied_run_resumes_without_rewriting_its_hparams_and_translates_evaluates_exports(tiny_run, tmp_path):
    from seqlib.decoding.export import export
    from seqlib.decoding.loading import load_translator
    from seqlib.evaluation.scores import evaluate_run
    from seqlib.training.train import train

    saved = json.loads((tiny_run / "config.json").read_text(encoding="utf-8"))
    assert saved["data"] == BUNDLED
    assert str(tiny_run) not in (tiny_run / "config.json").read_text(encoding="utf-8")

    moved = tmp_path / "another" / "machine" / "run"
    shutil.copytree(tiny_run, moved)
    epochs, _ = RunDir(moved).latest_checkpoint()
    train(get_preset("tiny").replace(epochs=epochs + 1), moved, verbose=0)
    assert RunDir(moved).latest_checkpoint()[0] == epochs + 1
    assert RunDir(tiny_run).latest_checkpoint()[0] == epochs, "the original run was left as it was"
    # TensorBoard's logs go on; the hparams are not written again, or the trial would
    # start twice in the HParams dashboard.
    assert "validation/epoch_loss" in summaries(moved / "logs")
    assert len(hparams_records(moved / "logs")) == 2  # one experiment, one session start

    translator = load_translator(moved)
    assert translator.translate(tf.constant(["I am cold."]))["translation"].shape == (1,)
    assert evaluate_run(moved, limit=5, translator=translator)["n"] == 5
    assert (export(moved, tmp_path / "export") / "saved_model.pb").is_file()


def test_a_corpus_of_ones_own_is_found_where_the_run_went_with_it(tmp_path):
    corpus = tmp_path / "project" / "corpus.txt"
    corpus.parent.mkdir()
    corpus.write_text("Go.\tVa !\n", encoding="utf-8")
    run = RunDir(tmp_path / "project" / "runs" / "a")
    run.path.mkdir(parents=True)
    run.save_config(get_preset("tiny"), corpus)
    assert json.loads(run.config_file.read_text(encoding="utf-8"))["data"] == "../../corpus.txt"

    # The whole project folder moved: the corpus is found beside the run again.
    shutil.copytree(tmp_path / "project", tmp_path / "moved")
    _, data_path = RunDir(tmp_path / "moved" / "runs" / "a").load_config()
    assert data_path.resolve() == (tmp_path / "moved" / "corpus.txt").resolve()


def test_a_moved_run_without_its_corpus_asks_for_data(tiny_run, tmp_path):
    from seqlib.training.train import train

    run = RunDir(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    config, _ = run.load_config()
    run.save_config(config, tmp_path / "gone" / "corpus.txt")
    with pytest.raises(SeqlibError, match="which is not there now; pass --data FILE"):
        train(config.replace(epochs=99), run.path, verbose=0)


def test_a_format_1_run_with_another_machines_bundled_corpus_uses_this_one(tmp_path):
    run = RunDir(tmp_path / "old")
    run.path.mkdir()
    old = {"format_version": 1, "data": "/home/someone/seqlib/data/fra.txt.gz", "config": get_preset("tiny").to_dict()}
    run.config_file.write_text(json.dumps(old), encoding="utf-8")
    config, data_path = run.load_config()
    assert config == get_preset("tiny") and data_path == BUNDLED_CORPUS
