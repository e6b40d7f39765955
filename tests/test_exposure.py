"""Exposure bias (seqlib.evaluation.exposure): the teacher-forced side of the measurement is the
training model's own loss, position by position, for both architectures."""

import numpy as np
import pytest
import tensorflow as tf

from seqlib.data.corpus import read_pairs
from seqlib.data.pipeline import shift_for_teacher_forcing
from seqlib.data.text import add_start_end, standardize
from seqlib.data.tokenizers import make_vectorizer
from seqlib.data.vocabulary import load_vocabulary
from seqlib.decoding.loading import load_training_model
from seqlib.evaluation.exposure import loss_by_position
from seqlib.rundir import RunDir


@pytest.mark.parametrize(
    "run, translator",
    [("tiny_run", "tiny_translator"), ("transformer_run", "transformer_translator")],
    ids=["tiny_run", "transformer_run"],
)
def test_teacher_forced_losses_are_the_training_models_and_position_one_is_shared(run, translator, request):
    # The session's translator of the run: loss_by_position only reads it.
    run_dir, translator = request.getfixturevalue(run), request.getfixturevalue(translator)
    pairs = read_pairs(RunDir(run_dir).test_pairs).drop_duplicates("english").head(24)
    english, french = list(pairs["english"]), list(pairs["french"])

    table = loss_by_position(translator, english, french)

    config, _ = RunDir(run_dir).load_config()
    vocabulary = load_vocabulary(RunDir(run_dir).target_vocab)
    target = make_vectorizer(config.tokenizer, vocabulary, ragged=True)(add_start_end(standardize(tf.constant(french))))
    target_in, target_out = shift_for_teacher_forcing(tf.cast(target.to_tensor(), tf.int32))
    _, _, model = load_training_model(run_dir)
    logits = model([translator.vectorize(tf.constant(english)), target_in], training=False)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target_out, logits=tf.cast(logits, tf.float32)).numpy()
    real = target_out.numpy() != 0
    expected = (losses * real).sum(axis=0) / real.sum(axis=0)
    assert list(table.index) == list(range(1, target_in.shape[1] + 1))
    assert list(table["sentences"]) == list(real.sum(axis=0))
    np.testing.assert_allclose(table["teacher_forcing"], expected, rtol=1e-3, atol=1e-4)
    # Both decoders have read only [START] before the first word.
    assert table["own_predictions"].iloc[0] == pytest.approx(table["teacher_forcing"].iloc[0], abs=1e-5)


def test_pairs_must_be_aligned(tiny_translator):
    with pytest.raises(ValueError, match="aligned"):
        loss_by_position(tiny_translator, ["I am cold."], [])
