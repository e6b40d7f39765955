import tensorflow as tf

from seqlib.data.text import APOSTROPHE_VARIANTS, detokenize, standardize


def standardized(*sentences):
    return [s.decode() for s in standardize(tf.constant(list(sentences))).numpy()]


def test_accents_case_and_apostrophes_are_kept_and_unified():
    assert standardized("Qu\u2019est-ce que c'est\u00a0?") == ["Qu' est-ce que c' est ?"]
    assert standardized("L'été à Noël.") == ["L' été à Noël ."]
    assert standardized("It´s") == ["It' s"]
    assert standardized(*(f"c{variant}est" for variant in APOSTROPHE_VARIANTS)) == ["c' est"] * len(APOSTROPHE_VARIANTS)


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


def round_trip(*sentences):
    """standardize, split into tokens, detokenize: what the translator writes for these tokens."""
    tokens = tf.strings.split(standardize(tf.constant(list(sentences))))
    return [s.decode() for s in detokenize(tokens).numpy()]


def test_detokenize_closes_up_paired_straight_quotes():
    sentences = [
        'Il a dit "salut".',
        '"J\'ai oublié", répondit-elle.',
        'Tu ne peux pas dire "Non."',
        '"Qui est-ce ?" "C\'est moi."',
        '("Tom")',
    ]
    assert round_trip(*sentences) == sentences
    # A quote without its pair cannot be told opening from closing: it keeps its spaces.
    assert round_trip('Il a dit " salut') == ['Il a dit " salut']


def test_detokenize_attaches_ellipsis_and_keeps_french_spacing():
    tokens = tf.ragged.constant([["Qu'", "est-ce", "que", "…"], ["Je", "pense", "que", "…", "non", "."]])
    assert [s.decode() for s in detokenize(tokens).numpy()] == ["Qu'est-ce que…", "Je pense que… non."]
    # NFKC spells "…" as "...", as in the normalised references, so the translator writes that.
    assert round_trip("Qu'est-ce que…", "Je pense que… non.") == ["Qu'est-ce que...", "Je pense que... non."]
    sentences = ["« Salut ! »", "Attention : il dort ; viens ?"]
    assert round_trip(*sentences) == sentences
