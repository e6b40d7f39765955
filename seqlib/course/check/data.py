"""Lab 1's graders, data and teacher forcing: `standardize` (the text
normalisation rules) and `teacher_forcing` (the one-token shift)."""

import numpy as np

from seqlib.conventions import END_ID, START_ID
from seqlib.course.check.inputs import SEED, random_targets
from seqlib.course.check.report import call, close, fail, named, passed, show, to_numpy, unpack


def teacher_forcing(shift_fn):
    """Checks shift_fn(target (batch, t + 1)) -> (target_in (batch, t), target_out (batch, t))."""
    import tensorflow as tf

    from seqlib.data.pipeline import shift_for_teacher_forcing

    exercise = "teacher_forcing"
    returns = "a tuple (target_in, target_out), int Tensors (batch, t), one token shorter than the target"
    rng = np.random.default_rng(SEED)
    shapes = [(1, 4), (3, 7), (5, 12), (2, 3)]
    for batch_size, length in shapes:
        target = random_targets(rng, batch_size, length)
        described = f"target =\n{show(target)}"
        result = call(exercise, shift_fn, (tf.constant(target),), described, returns)
        result = unpack(exercise, result, ("target_in", "target_out"), described)
        got_in = to_numpy(exercise, result[0], "target_in", described, returns)
        got_out = to_numpy(exercise, result[1], "target_out", described, returns)
        expected_in, expected_out = (t.numpy() for t in shift_for_teacher_forcing(tf.constant(target)))
        expected = named(target_in=expected_in, target_out=expected_out)
        got = named(target_in=got_in, target_out=got_out)
        if close(got_in, expected_out) and close(got_out, expected_in):
            fail(
                exercise,
                "target_in and target_out are swapped: the decoder READS target_in, which starts with [START] "
                f"(id {START_ID}), and must PREDICT target_out, which ends with [END] (id {END_ID}).",
                described,
                expected,
                got,
            )
        if got_in.shape != expected_in.shape or got_out.shape != expected_out.shape:
            hint = f"shapes {got_in.shape} and {got_out.shape}, expected {expected_in.shape} for both (one token shorter than the target)."
            if got_in.shape[:1] != expected_in.shape[:1] or got_out.shape[:1] != expected_out.shape[:1]:
                hint += " You sliced the batch axis; slice the time axis (axis 1): target[:, …]."
            fail(exercise, hint, described, expected, got)
        for what, got_part, expected_part in (("target_in", got_in, expected_in), ("target_out", got_out, expected_out)):
            if not np.array_equal(got_part, expected_part):
                fail(
                    exercise,
                    f"{what} is wrong: target_in = target[:, :-1] and target_out = target[:, 1:].",
                    described,
                    expected,
                    got,
                )
    passed(exercise, f"target_in = target[:, :-1] and target_out = target[:, 1:] on {len(shapes)} unseen batches")


# Each case names the rule it tests, so a failure says which rule is missing.
STANDARDIZE_CASES = (
    # Ordered so that each case needs only its own rule and those of the cases above it.
    ("keeps accents and case", "Élise a mangé chez Zoë"),
    ("collapses and strips spaces", "   Il    pleut   "),
    ("splits punctuation off", "Wait, what?! Really..."),
    ("unifies apostrophes (’ ‘ ʼ ` → ')", "Les années \u201980 et \u201890, \u02bc70 et `60"),
    ("separates French elision", "C'est l'été, qu'il dit."),
    ("turns non-breaking and other spaces into plain ones", "Va\u00a0! Qui\u202f? Oui\tnon"),
    ("applies NFKC normal form", "Le \ufb01lm est fini\u2026 cafe\u0301"),
    (
        "turns ´ into an apostrophe before NFKC (NFKC makes it a space and a combining accent, "
        "which no later rule can turn back into an apostrophe)",
        "C\u00b4est l\u00b4hiver",
    ),
    ("splits quotes and brackets", "«Bonjour», dit-il (encore) [START]"),
)
# Pieces the generated sentences are drawn from; each exercises one or more of the rules above.
_STANDARDIZE_WORDS = (
    *"Élise garçon déjà Zoë NOËL Tom maïs peut-être".split(),
    *"l\u2019été qu\u2018il j\u02bcai c`est d'abord aujourd'hui".split(),
    *"\ufb01n cafe\u0301 \uff21BC ½".split(),
    *'. , ? ! ; : … ... « » ( ) " ¿ ¡'.split(),
)
# Often none at all, so that punctuation and elisions meet the words around them.
_STANDARDIZE_SPACES = (" ", " ", "", "", "  ", "\u00a0", "\u202f", "\t", "\u200b")


def generated_sentences(rng, count):
    """Random sentences mixing the pieces above with plain, doubled, odd and missing spaces."""
    sentences = []
    for _ in range(count):
        pieces = rng.choice(len(_STANDARDIZE_WORDS), size=rng.integers(6, 12))
        spaces = rng.choice(len(_STANDARDIZE_SPACES), size=len(pieces) + 1)
        text = _STANDARDIZE_SPACES[spaces[0]]
        for piece, space in zip(pieces, spaces[1:]):
            text += _STANDARDIZE_WORDS[piece] + _STANDARDIZE_SPACES[space]
        sentences.append(text)
    return sentences


def standardize(standardize_fn):
    """Checks standardize_fn(text tf.string (batch,)) -> tf.string (batch,) against seqlib.data.text.standardize:
    first on one sentence per rule, then on seeded random sentences that mix the rules."""
    import tensorflow as tf

    from seqlib.data.text import standardize as reference

    exercise = "standardize"
    generated = generated_sentences(np.random.default_rng(SEED + 9), 10)
    batches = (
        ("your function breaks the rule that {}.", list(STANDARDIZE_CASES)),
        (
            "wrong on a generated sentence that mixes the rules (each rule alone passed); compare expected with got.",
            [("", text) for text in generated],
        ),
    )
    for hint, cases in batches:
        inputs = [text for _, text in cases]
        returns = f"a tf.string Tensor of shape ({len(inputs)},), one standardized string per sentence"
        described = f"a batch of {len(inputs)} sentences:\n" + "\n".join(repr(text) for text in inputs)
        result = to_numpy(
            exercise,
            call(exercise, standardize_fn, (tf.constant(inputs),), described, returns),
            "the result",
            described,
            returns,
        )
        if result.shape != (len(inputs),):
            fail(
                exercise,
                f"return one string per sentence, shape ({len(inputs)},)",
                described,
                returns,
                f"shape {result.shape}: {show(result)}",
            )
        expected = reference(tf.constant(inputs)).numpy()
        for (rule, text), got, want in zip(cases, result, expected):
            got = got.decode("utf-8") if isinstance(got, bytes) else str(got)
            want = want.decode("utf-8")
            if got != want:
                fail(exercise, hint.format(rule), repr(text), repr(want), repr(got))
    passed(
        exercise,
        f"all {len(STANDARDIZE_CASES)} normalisation rules hold on unseen sentences, and on {len(generated)} generated ones",
    )
