import tensorflow as tf

from seqlib.text import detokenize, standardize


def standardized(*sentences):
    return [s.decode() for s in standardize(tf.constant(list(sentences))).numpy()]


def test_accents_case_and_apostrophes_are_kept_and_unified():
    assert standardized("Qu\u2019est-ce que c'est\u00a0?") == ["Qu' est-ce que c' est ?"]
    assert standardized("L'été à Noël.") == ["L' été à Noël ."]
    assert standardized("It´s") == ["It' s"]


def test_nfkc_spaces_and_control_characters():
    assert standardized("ﬁn\u202f!", "a\tb\u200bc", "   ") == ["fin !", "a b c", ""]


def test_detokenize_writes_normal_french():
    tokens = tf.strings.split(standardize(tf.constant(["Va !", "C'est l'été.", "Qu'est-ce que c'est ?", "Oui, (peut-être)..."])))
    assert [s.decode() for s in detokenize(tokens).numpy()] == [
        "Va !",
        "C'est l'été.",
        "Qu'est-ce que c'est ?",
        "Oui, (peut-être)...",
    ]
