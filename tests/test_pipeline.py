import numpy as np
import tensorflow as tf

from seqlib.data import vocabulary
from seqlib.data.pipeline import make_dataset, shift_for_teacher_forcing, vectorize_pairs


def tiny_vectorized():
    english = ["Go.", "I am cold.", "Who are you?", "We won.", "Go away!"]
    french = ["Va !", "J'ai froid.", "Qui êtes-vous ?", "Nous avons gagné.", "Va-t'en !"]
    source_vocab = vocabulary.build_vocabulary(english, 100)
    target_vocab = vocabulary.build_vocabulary(french, 100, reserved=vocabulary.TARGET_SPECIAL_TOKENS)
    return vectorize_pairs(
        english,
        french,
        vocabulary.make_vectorizer(source_vocab, ragged=True),
        vocabulary.make_vectorizer(target_vocab, ragged=True),
    )


def test_targets_are_wrapped_in_start_and_end():
    _, target = tiny_vectorized()
    for row in target.to_list():
        assert row[0] == vocabulary.START_ID and row[-1] == vocabulary.END_ID


def test_teacher_forcing_shift_invariant():
    source, target = tiny_vectorized()
    for (_, target_in), target_out in make_dataset(source, target, batch_size=2, shuffle_seed=1):
        target_in, target_out = target_in.numpy(), target_out.numpy()
        assert target_in.shape == target_out.shape
        assert (target_in[:, 0] == vocabulary.START_ID).all()
        # The decoder input at i+1 is the expected output at i, up to [END].
        for row_in, row_out in zip(target_in, target_out):
            words = row_out[: list(row_out).index(vocabulary.END_ID)]
            np.testing.assert_array_equal(row_in[1 : 1 + len(words)], words)
        assert ((target_out == vocabulary.END_ID).sum(axis=1) == 1).all()


def test_shift_for_teacher_forcing():
    target = tf.constant([[2, 10, 11, 3, 0], [2, 12, 3, 0, 0]])
    target_in, target_out = shift_for_teacher_forcing(target)
    assert target_in.numpy().tolist() == [[2, 10, 11, 3], [2, 12, 3, 0]]
    assert target_out.numpy().tolist() == [[10, 11, 3, 0], [12, 3, 0, 0]]


def test_bucketing_keeps_padding_small():
    from seqlib.data import corpus

    pairs = corpus.read_pairs(max_pairs=20000).sample(4000, random_state=0)
    source_vocab = vocabulary.build_vocabulary(list(pairs.english), 2000)
    target_vocab = vocabulary.build_vocabulary(list(pairs.french), 2000, reserved=vocabulary.TARGET_SPECIAL_TOKENS)
    source, target = vectorize_pairs(
        pairs.english,
        pairs.french,
        vocabulary.make_vectorizer(source_vocab, ragged=True),
        vocabulary.make_vectorizer(target_vocab, ragged=True),
    )

    def padding_share(bucketing):
        real = total = 0
        for _, target_out in make_dataset(source, target, 64, shuffle_seed=1, bucketing=bucketing):
            real += int(tf.reduce_sum(tf.cast(target_out > 0, tf.int32)))
            total += int(tf.size(target_out))
        return 1 - real / total

    assert padding_share(True) < 0.15 < padding_share(False)
