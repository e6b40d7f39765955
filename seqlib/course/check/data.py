"""Lab 1's graders, data and teacher forcing: `standardize` (the text
normalisation rules), `wordpiece` (WordPiece's split of one word) and
`teacher_forcing` (the one-token shift)."""

import itertools

import numpy as np

from seqlib.conventions import END_ID, START_ID
from seqlib.course.check.inputs import SEED, random_targets
from seqlib.course.check.report import call, close, describe, fail, named, passed, show, to_numpy, unpack


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


# ---- WordPiece ----------------------------------------------------------------

# Each case names the rule it tests, so a failure without a known mistake says which rule is missing.
# Vocabularies are sets of pieces; "##" marks a piece that continues a word (seqlib.data.subwords.JOINER).
WORDPIECE_CASES = (
    (
        "keeps a word that is in the vocabulary whole",
        "chaton",
        {"c", "ch", "chat", "chaton", "##a", "##h", "##at", "##t", "##o", "##on", "##n"},
    ),
    (
        "takes the longest prefix in the vocabulary first",
        "mangeons",
        {"m", "man", "mange", "##a", "##n", "##g", "##ge", "##e", "##o", "##on", "##ons", "##s"},
    ),
    (
        'writes "##" before every piece that continues a word, and only there',
        "chantons",
        {"chant", "chan", "##t", "##ons", "##on", "##s"},
    ),
    ('looks a piece that continues a word up in its "##" form', "bonbons", {"bon", "bons", "##bon", "##s"}),
    ("gives [UNK] for the whole word when, midway, no prefix is in the vocabulary", "Noël", {"N", "No", "##o", "##e", "##l"}),
    ("gives [UNK] for the whole word when its first letter is not in the vocabulary", "zut", {"u", "t", "##u", "##t", "##ut"}),
)

# How a learner's split commonly differs from WordPiece's: each option of `greedy_wordpiece` with its
# right value first, then its wrong ones, each with the hint that names that mistake.
_WORDPIECE_OPTIONS = {
    "longest": (True, False),
    "lookup": ("continuation", "never", "always"),
    "mark": ("continuation", "never", "always"),
    "on_failure": ("whole", "partial", "skip", "unk_char"),
}
_STAY_WHOLE = 'WordPiece gives up on the whole word: return ["[UNK]"] alone.'
_WORDPIECE_HINTS = {
    ("longest", False): (
        "You took the SHORTEST prefix that is in the vocabulary; WordPiece takes the LONGEST: "
        "try the whole rest of the word first, then one character less, and so on."
    ),
    ("lookup", "never"): (
        'Mid-word you looked up the bare piece ("ons"): a piece that continues a word must be looked up '
        'as "##" + piece ("##ons"). The vocabulary keeps the two apart; a bare piece only starts a word.'
    ),
    ("lookup", "always"): (
        'You put the "##" prefix on the first piece too, when looking it up: only the pieces after the first '
        'are looked up (and returned) as "##" + piece; the first is looked up bare.'
    ),
    ("mark", "never"): (
        'You forgot the "##" prefix on the pieces after the first: return each piece that continues '
        'the word as "##" + piece, as the vocabulary spells it.'
    ),
    ("mark", "always"): 'You put the "##" prefix on the first piece too: only the pieces that continue a word carry it.',
    ("on_failure", "partial"): 'When no prefix matched, you returned the pieces found so far plus "[UNK]"; ' + _STAY_WHOLE,
    ("on_failure", "skip"): "When no prefix matched, you skipped that character and went on; " + _STAY_WHOLE,
    ("on_failure", "unk_char"): 'When no prefix matched, you wrote "[UNK]" for that character and went on; ' + _STAY_WHOLE,
}


def greedy_wordpiece(word, vocabulary, longest=True, lookup="continuation", mark="continuation", on_failure="whole"):
    """WordPiece's greedy split of one word, or (with other options) a common mistake in writing it.

    Args:
        word: str; vocabulary: set of str pieces, "##" before those that continue a word.
        longest: take the longest prefix in the vocabulary (False: the shortest).
        lookup: which pieces are looked up as "##" + piece: "continuation" (all but the first), "never", "always".
        mark: which returned pieces carry "##": "continuation", "never", "always".
        on_failure: when no prefix matches, "whole" gives ["[UNK]"]; "partial" the pieces so far plus "[UNK]";
            "skip" skips the character; "unk_char" writes "[UNK]" for it and goes on.

    Returns:
        list of str, the pieces.
    """
    from seqlib.data.subwords import JOINER, UNK_TOKEN

    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        joined = lookup == "always" or (lookup == "continuation" and start > 0)
        piece = next((word[start:end] for end in ends if (JOINER if joined else "") + word[start:end] in vocabulary), None)
        if piece is None:
            if on_failure == "whole":
                return [UNK_TOKEN]
            if on_failure == "partial":
                return [*pieces, UNK_TOKEN]
            if on_failure == "unk_char":
                pieces.append(UNK_TOKEN)
            start += 1
            continue
        marked = mark == "always" or (mark == "continuation" and start > 0)
        pieces.append((JOINER if marked else "") + piece)
        start += len(piece)
    return pieces


def _wordpiece_hint(options):
    """The hint that names the mistakes of `greedy_wordpiece(**options)`."""
    wrong = [(name, value) for name, value in options.items() if value != _WORDPIECE_OPTIONS[name][0]]
    # The same "##" mistake made in the lookup and in the result is one mistake.
    if {("lookup", "never"), ("mark", "never")} <= set(wrong):
        return 'You ignored "##": a piece that continues a word is looked up, and returned, as "##" + piece.'
    if {("lookup", "always"), ("mark", "always")} <= set(wrong):
        wrong.remove(("lookup", "always"))
    return " ".join(_WORDPIECE_HINTS[mistake] for mistake in wrong)


def _wordpiece_mistake(wordpiece_fn, word, vocabulary, got):
    """The hint naming the fewest mistakes that explain a wrong split `got`, or None when none does.

    One word often fits several mistakes, so the learner's function also splits the named cases'
    words: the mistakes that explain every answer are named, else those that explain this one."""
    answers = [(word, vocabulary, got)]
    for _, other, other_vocabulary in WORDPIECE_CASES:
        try:
            answers.append((other, other_vocabulary, list(wordpiece_fn(other, set(other_vocabulary)))))
        except Exception:  # a learner's function may fail on some words; those say nothing here
            continue
    names = list(_WORDPIECE_OPTIONS)
    variants = sorted(
        (dict(zip(names, values)) for values in itertools.product(*_WORDPIECE_OPTIONS.values())),
        key=lambda options: sum(value != _WORDPIECE_OPTIONS[name][0] for name, value in options.items()),
    )
    for explained in (answers, answers[:1]):
        for options in variants[1:]:
            if all(
                greedy_wordpiece(other, other_vocabulary, **options) == answer for other, other_vocabulary, answer in explained
            ):
                return _wordpiece_hint(options)
    return None


def wordpiece_reference(words, vocabulary):
    """seqlib's split (tensorflow-text's FastWordpieceTokenizer, as in seqlib.data.subwords) of each word."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    from seqlib.data.subwords import JOINER, UNK_TOKEN

    tokenizer = tf_text.FastWordpieceTokenizer(
        vocab=[UNK_TOKEN, *sorted(vocabulary - {UNK_TOKEN})],
        suffix_indicator=JOINER,
        unknown_token=UNK_TOKEN,
        token_out_type=tf.string,
        no_pretokenization=True,
    )
    return [[piece.decode("utf-8") for piece in row] for row in tokenizer.tokenize(tf.constant(words)).to_list()]


def generated_wordpiece_cases(rng, vocabularies=4, words=6):
    """(vocabulary, words) pairs drawn from a few letters: each word joins two stems the vocabulary
    holds pieces of, and one in four has a letter no piece holds ("z") midway, so every rule is needed."""
    letters = list("aeilnorsté")
    cases = []
    for _ in range(vocabularies):
        stems = ["".join(rng.choice(letters, size=rng.integers(3, 8))) for _ in range(5)]
        vocabulary = set()
        for stem in stems:
            for _ in range(3):
                start, end = sorted(int(cut) for cut in rng.choice(len(stem) + 1, size=2, replace=False))
                # Mostly pieces in their place (a word's start bare, the rest with "##"), some in the other.
                bare = (start == 0) != (rng.random() < 0.25)
                vocabulary.add(("" if bare else "##") + stem[start:end])
        # Most single letters, in both forms, so that most words split and some do not.
        vocabulary |= {letter for letter in letters if rng.random() < 0.9}
        vocabulary |= {"##" + letter for letter in letters if rng.random() < 0.9}
        chosen = []
        for _ in range(words):
            first, second = (stems[index] for index in rng.choice(len(stems), size=2))
            word = first + second
            if rng.random() < 0.25:
                cut = int(rng.integers(1, len(word)))
                word = word[:cut] + "z" + word[cut:]
            chosen.append(word)
        cases.append((vocabulary, chosen))
    return cases


def _show_vocabulary(vocabulary):
    return "{" + ", ".join(repr(piece) for piece in sorted(vocabulary)) + "}"


def wordpiece(wordpiece_fn):
    """Checks wordpiece_fn(word str, vocabulary set of str) -> list of str pieces against seqlib's WordPiece split
    (tensorflow-text's FastWordpieceTokenizer): first one word per rule, then seeded generated words."""
    exercise = "wordpiece"
    returns = 'a list of str pieces, e.g. ["mange", "##ons"], or ["[UNK]"]'
    batches = [
        ("your function breaks the rule that it {}.", [(rule, vocabulary, [word]) for rule, word, vocabulary in WORDPIECE_CASES]),
        (
            "wrong on a generated word (every named rule alone passed); compare expected with got.",
            [("", vocabulary, words) for vocabulary, words in generated_wordpiece_cases(np.random.default_rng(SEED + 11))],
        ),
    ]
    count = 0
    for hint, cases in batches:
        for rule, vocabulary, words in cases:
            for word, expected in zip(words, wordpiece_reference(words, vocabulary)):
                described = f"word = {word!r}\nvocabulary = {_show_vocabulary(vocabulary)}"
                got = call(exercise, wordpiece_fn, (word, set(vocabulary)), described, returns)
                if isinstance(got, str) or not isinstance(got, (list, tuple)) or not all(isinstance(piece, str) for piece in got):
                    fail(exercise, "return a list of the pieces, each a str", described, returns, describe(got))
                count += 1
                if list(got) != expected:
                    mistake = _wordpiece_mistake(wordpiece_fn, word, vocabulary, list(got))
                    fail(exercise, mistake or hint.format(rule), described, repr(expected), repr(list(got)))
    passed(exercise, f'greedy longest-match-first, "##" on continuations, [UNK] for whole words, on {count} unseen words')
