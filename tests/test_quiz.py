"""The quiz: the bank's content (and that it cannot be guessed from the options'
lengths or positions), all-or-nothing grading, answers files, seeded shuffling,
hints before explanations in the terminal quiz and the notebook helpers."""

import argparse
import json
import re
import subprocess
import sys

import pytest

from seqlib.course import quiz

DECODER_GENERATES = "To generate the output sequence from the vector representation"
DECODER_PREDICTS = "To predict the next word in the output sequence"
LEARNS = "To learn the relationship between the input and output sequences"
ENCODES = "To convert the input sequence into a vector representation"
GREEDY = "Greedy search always selects the word with the {0} probability, whereas beam search considers multiple possible words and selects the one with the {0} combined probability."
BEAM = "Beam search always selects the word with the {0} probability, whereas greedy search considers multiple possible words and selects the one with the {0} combined probability."

# The five questions the course must ask, in the words: (question, answers, distractors, multi-select).
REQUIRED = [
    (
        "What is the difference between greedy search and beam search?",
        {GREEDY.format("highest")},
        {GREEDY.format("lowest"), BEAM.format("highest"), BEAM.format("lowest")},
        False,
    ),
    (
        "What is the name of the machine learning architecture that takes a sequence of words as input and outputs a sequence of words?",
        {"Encoder-decoder"},
        {"Large stream text manipulation", "Regressive neural networking", "Collaborative natural network"},
        False,
    ),
    (
        "What are two ways to generate text from a trained encoder-decoder model at serving time?",
        {"Greedy search and beam search"},
        {"Greedy search and attention", "Teacher forcing and beam search", "Teacher forcing and attention"},
        False,
    ),
    (
        "What is the purpose of the decoder in an encoder-decoder architecture?",
        {DECODER_GENERATES, DECODER_PREDICTS},
        {LEARNS, ENCODES},
        True,
    ),
    (
        "What is the purpose of the encoder in an encoder-decoder architecture?",
        {ENCODES},
        {DECODER_GENERATES, DECODER_PREDICTS, LEARNS},
        False,
    ),
]


@pytest.fixture(scope="module")
def bank():
    return quiz.load_bank()


def by_id(bank, identifier):
    return next(question for question in bank if question.id == identifier)


def letters_of(question, options):
    return [question.letter(option) for option in options]


def perfect_answers(questions):
    return {question.id: letters_of(question, question.answers) for question in questions}


def seeded_answers(questions, seed):
    """The right letters of each question, its options shuffled by `seed`."""
    answers = {}
    for question in questions:
        options = quiz.options_for(question, seed)
        answers[question.id] = sorted(quiz.LETTERS[options.index(option)] for option in question.answers)
    return answers


def single_answer(questions):
    return [question for question in questions if not question.multiple]


def right_option(question):
    (option,) = question.answers
    return option


def entry(**fields):
    """A valid bank entry, with `fields` changed."""
    base = {"id": "q", "lab": 1, "kind": "recall", "question": "Which?", "options": ["a", "b"], "answers": ["a"]}
    return {**base, "hint": "Think.", "explanation": "Because.", **fields}


def write_bank(path, *entries):
    path.write_text(json.dumps({"questions": list(entries)}), encoding="utf-8")
    return path


def test_the_bank_has_at_least_40_valid_questions_and_6_a_lab(bank):
    assert len(bank) >= 40
    assert len({question.id for question in bank}) == len(bank)
    per_lab = {lab: sum(question.lab == lab for question in bank) for lab in range(1, 6)}
    assert {question.lab for question in bank} == {1, 2, 3, 4, 5}
    assert min(per_lab.values()) >= 6, per_lab
    for question in bank:
        assert question.answers <= set(question.options)
        assert question.multiple or len(question.answers) == 1


def test_at_least_a_third_of_the_questions_need_reasoning(bank):
    assert {question.kind for question in bank} == {"recall", "reasoning"}
    reasoning = sum(question.kind == "reasoning" for question in bank)
    assert 3 * reasoning >= len(bank), f"{reasoning} of {len(bank)} questions need reasoning"


def test_the_right_option_is_the_longest_in_at_most_a_third_of_the_questions(bank):
    # A tie for longest counts as longest: a learner picking the longest option would get it.
    longest = [
        question.id
        for question in single_answer(bank)
        if len(right_option(question)) >= max(len(option) for option in question.options)
    ]
    assert 3 * len(longest) <= len(single_answer(bank)), f"longest option is right in {len(longest)}: {longest}"


def test_the_right_letters_follow_no_pattern_within_a_lab(bank):
    # In the bank's order, which --print and an unseeded show() letter.
    every = []
    for lab in sorted({question.lab for question in bank}):
        letters = [question.letter(right_option(question)) for question in single_answer(quiz.select(bank, [lab]))]
        every += letters
        text = "".join(letters)
        for first, second in zip(text, text[1:]):
            assert first != second, f"lab {lab}: two questions in a row answered {first}: {text}"
        for run in zip(text, text[1:], text[2:]):
            steps = {ord(run[1]) - ord(run[0]), ord(run[2]) - ord(run[1])}
            assert steps not in ({1}, {-1}), f"lab {lab}: the letters count {''.join(run)}: {text}"
        for period in (2, 3, 4):
            for start in range(len(text) - 2 * period + 1):
                window = text[start : start + 2 * period]
                assert window[:period] != window[period:], f"lab {lab}: {window} repeats: {text}"
    # And every position is used about as often: none holds the right answer twice as often as another.
    counts = [every.count(letter) for letter in "ABCD"]
    assert max(counts) < 2 * min(counts), counts


def test_every_question_has_a_hint_that_neither_explains_nor_names_the_answer(bank):
    for question in bank:
        assert question.hint.strip() and question.explanation.strip(), question.id
        assert question.hint.strip() != question.explanation.strip(), question.id
        for option in question.answers:
            assert option.lower() not in question.hint.lower(), f"{question.id}: the hint names the answer {option!r}"


@pytest.mark.parametrize(
    "text, answers, distractors, multiple", REQUIRED, ids=["greedy-vs-beam", "architecture", "serving", "decoder", "encoder"]
)
def test_the_required_questions_have_exactly_their_answers(bank, text, answers, distractors, multiple):
    matches = [question for question in bank if question.question == text]
    assert len(matches) == 1, f"no question in the bank with exactly this text: {text}"
    question = matches[0]
    assert question.answers == answers
    assert set(question.options) - question.answers == distractors
    assert len(question.options) == len(answers) + len(distractors)
    assert question.multiple is multiple


def test_a_multi_select_question_says_so_once(bank, tmp_path):
    for question in bank:
        shown = quiz.format_question(question, 1).lower()
        assert shown.count("select all that apply") == (1 if question.multiple else 0), shown
    # Also for a bank whose text already says it.
    says_so = entry(question="Which? Select all that apply.", options=["a", "b", "c"], answers=["a", "b"], multiple=True)
    path = write_bank(tmp_path / "bank.json", says_so)
    assert quiz.format_question(quiz.load_bank(path)[0], 1).lower().count("select all that apply") == 1


def test_multi_select_is_all_or_nothing(bank):
    question = by_id(bank, "decoder-purpose")
    assert quiz.is_correct(question, {DECODER_GENERATES, DECODER_PREDICTS})
    assert not quiz.is_correct(question, {DECODER_GENERATES})
    assert not quiz.is_correct(question, {DECODER_PREDICTS})
    assert not quiz.is_correct(question, {DECODER_GENERATES, DECODER_PREDICTS, LEARNS})
    assert not quiz.is_correct(question, set())


def test_grading_accepts_letters_lists_and_option_texts(bank):
    decoder = by_id(bank, "decoder-purpose")
    right = letters_of(decoder, decoder.answers)
    for answer in (right, ",".join(right), " ".join(right).lower(), sorted(decoder.answers)):
        assert quiz.grade([decoder], {"decoder-purpose": answer}).score == 1, answer
    assert quiz.grade([decoder], {"decoder-purpose": right[0]}).score == 0  # half the set scores nothing

    encoder = by_id(bank, "encoder-purpose")
    assert quiz.grade([encoder], {"encoder-purpose": ENCODES}).score == 1
    assert quiz.grade([encoder], {"encoder-purpose": encoder.letter(ENCODES)}).score == 1
    assert quiz.grade([encoder], {"encoder-purpose": encoder.letter(LEARNS)}).score == 0


def test_a_perfect_sheet_scores_everything_and_an_empty_one_nothing(bank):
    assert quiz.grade(bank, perfect_answers(bank)).score == len(bank)
    empty = quiz.grade(bank, {})
    assert (empty.score, empty.total) == (0, len(bank))
    assert empty.summary() == f"0/{len(bank)} (0%)"


def test_bad_answers_are_errors_that_name_the_question(bank):
    with pytest.raises(quiz.QuizError, match="unknown question ids \\['no-such-question'\\]"):
        quiz.grade(bank, {"no-such-question": "A"})
    with pytest.raises(quiz.QuizError, match="'encoder-purpose': 'Z' is not an option letter"):
        quiz.grade(bank, {"encoder-purpose": "Z"})
    with pytest.raises(quiz.QuizError, match="expected a JSON object"):
        quiz.grade(bank, ["A", "B"])


def test_a_malformed_bank_is_rejected(tmp_path):
    path = tmp_path / "bank.json"
    assert quiz.load_bank(write_bank(path, entry()))[0].kind == "recall"
    bad = [
        (entry(answers=["a", "b"]), '2 answers but not marked "multiple": true'),
        (entry(answers=["c"]), "not among the options"),
        ({key: value for key, value in entry().items() if key != "hint"}, "'hint' must be non-empty text"),
        (entry(hint="  "), "'hint' must be non-empty text"),
        (entry(hint="Because."), "'hint' repeats the explanation"),
        (
            {key: value for key, value in entry().items() if key != "kind"},
            "'kind' must be one of 'recall', 'reasoning', got None",
        ),
        (entry(kind="trivia"), "'kind' must be one of 'recall', 'reasoning', got 'trivia'"),
    ]
    for question, problem in bad:
        write_bank(path, entry(id="fine"), question)
        # The message names the file, the question's number and its id.
        with pytest.raises(quiz.QuizError, match=re.escape(f"{path} question 2 (q): ") + ".*" + re.escape(problem)):
            quiz.load_bank(path)
    write_bank(path, entry(), entry())
    with pytest.raises(quiz.QuizError, match="used twice"):
        quiz.load_bank(path)


def parse(*argv):
    parser = argparse.ArgumentParser()
    quiz.add_parser(parser.add_subparsers(dest="verb"))
    return parser.parse_args(["quiz", *argv])


def test_run_grades_answers_files(bank, tmp_path):
    perfect = tmp_path / "perfect.json"
    perfect.write_text(json.dumps(perfect_answers(bank)), encoding="utf-8")
    partial = tmp_path / "partial.json"
    encoder = by_id(bank, "encoder-purpose")
    partial.write_text(json.dumps({"encoder-purpose": encoder.letter(LEARNS)}), encoding="utf-8")
    lines = []
    assert quiz.run(parse("--answers", str(perfect), str(partial)), write=lines.append) == 0
    assert lines[0] == f"{perfect}: {len(bank)}/{len(bank)} (100%)"
    assert lines[1] == f"{partial}: 0/{len(bank)} (0%)"
    assert f"  ✗ encoder-purpose: chose {encoder.letter(LEARNS)}, answer {encoder.letter(ENCODES)}" in lines


def test_run_filters_by_lab(bank, tmp_path):
    path = tmp_path / "lab4.json"
    lab4 = [question for question in bank if question.lab == 4]
    path.write_text(json.dumps(perfect_answers(lab4)), encoding="utf-8")
    lines = []
    quiz.run(parse("--lab", "4", "--answers", str(path)), write=lines.append)
    assert lines == [f"{path}: {len(lab4)}/{len(lab4)} (100%)"]


def test_run_grades_answers_files_in_a_seeds_letters(bank, tmp_path):
    path = tmp_path / "shuffled.json"
    path.write_text(json.dumps(seeded_answers(bank, 11)), encoding="utf-8")
    lines = []
    quiz.run(parse("--seed", "11", "--answers", str(path)), write=lines.append)
    assert lines == [f"{path}: {len(bank)}/{len(bank)} (100%)"]
    lines = []
    quiz.run(parse("--answers", str(path)), write=lines.append)  # read in the bank's order: mostly wrong
    assert not lines[0].endswith("(100%)")


def test_run_print_lists_every_question_in_the_banks_order(bank):
    lines = []
    assert quiz.run(parse("--print", "--seed", "5"), write=lines.append) == 0  # --print ignores the seed
    assert len(lines) == len(bank) >= 40
    assert lines == [quiz.format_question(question, number) + "\n" for number, question in enumerate(bank, start=1)]


def test_run_rejects_a_broken_answers_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(quiz.QuizError, match="not valid JSON"):
        quiz.run(parse("--answers", str(path)), write=lambda line: None)


class Learner:
    """Answers the terminal quiz by reading the shuffled options it was shown."""

    def __init__(self, bank, right=True):
        self.bank = {question.id: question for question in bank}
        self.right = right
        self.shown = []

    def write(self, text=""):
        self.shown.append(text)

    def read(self, prompt):
        block = next(text for text in reversed(self.shown) if re.match(r"^\d+/\d+\. \[", text))
        question = self.bank[re.match(r"^\d+/\d+\. \[([a-z0-9-]+)\]", block).group(1)]
        options = dict(re.findall(r"^   ([A-Z])\) (.*)$", block, flags=re.MULTILINE))
        wanted = [letter for letter, text in options.items() if (text in question.answers) == self.right]
        return ",".join(wanted[: None if self.right else 1])


def test_the_terminal_quiz_shuffles_with_a_seed_and_scores(bank):
    learner = Learner(bank)
    assert quiz.run(parse("--seed", "3"), read=learner.read, write=learner.write) == 0
    assert learner.shown[-1] == f"Score: {len(bank)}/{len(bank)} (100%)"

    wrong = Learner(bank, right=False)
    quiz.run(parse("--seed", "3", "--lab", "2"), read=wrong.read, write=wrong.write)
    assert wrong.shown[-1].startswith("Score: 0/")
    lab2 = quiz.select(bank, [2])
    # Each question: a hint after the first wrong answer, the explanation after the second.
    assert sum(text.startswith("✗ Not quite") for text in wrong.shown) == len(lab2)
    assert sum(text.startswith("✗ The answer: ") for text in wrong.shown) == len(lab2)

    def orders(seed):
        learner = Learner(bank)
        quiz.run(parse("--seed", str(seed)), read=learner.read, write=learner.write)
        return [text for text in learner.shown if re.match(r"^\d+/\d+\. \[", text)]

    assert orders(3) == orders(3)
    assert orders(3) != orders(4)


def scripted(replies):
    """A terminal that answers with `replies`, then ends its input; it records the prompts."""
    replies, prompts = iter(replies), []

    def read(prompt):
        prompts.append(prompt)
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    return read, prompts


def right_and_wrong_letters(question, seed):
    options = quiz.options_for(question, seed)
    right = ",".join(quiz.LETTERS[options.index(option)] for option in question.answers)
    wrong = next(quiz.LETTERS[index] for index, option in enumerate(options) if option not in question.answers)
    return right, wrong


def test_a_wrong_answer_gets_a_hint_then_a_second_try(bank):
    question = by_id(bank, "beam-step")
    right, wrong = right_and_wrong_letters(question, 8)
    read, prompts = scripted([wrong, right])
    shown = []
    report = quiz.interactive([question], seed=8, read=read, write=shown.append)
    assert (report.score, report.outcomes[0].tries) == (1, 2)
    assert shown[1] == f"✗ Not quite. Hint: {question.hint}"
    assert question.explanation not in shown[1]
    assert shown[2].startswith("✓ Right at the second try. ") and question.explanation in shown[2]
    assert prompts == ["Your answer (? shows the explanation): ", "Your second answer (? shows the explanation): "]


def test_a_second_wrong_answer_shows_the_answer_and_explanation(bank):
    question = by_id(bank, "decoder-purpose")  # multi-select
    right, wrong = right_and_wrong_letters(question, 8)
    read, prompts = scripted([wrong, right.split(",")[0]])  # then half of the right set: still wrong
    shown = []
    report = quiz.interactive([question], seed=8, read=read, write=shown.append)
    assert report.score == 0
    assert shown[1] == f"✗ Not quite (select every right option, and only those). Hint: {question.hint}"
    assert shown[2].startswith("✗ The answer: ") and question.explanation in shown[2]
    assert all(f"{letter}) " in shown[2] for letter in right.split(","))
    assert prompts[0] == "Your answer (letters, e.g. A,C; ? shows the explanation): "


def test_a_question_mark_shows_the_explanation_at_once_and_scores_zero(bank):
    question = by_id(bank, "encoder-output-shape")
    read, prompts = scripted(["?"])
    shown = []
    report = quiz.interactive([question], seed=8, read=read, write=shown.append)
    assert report.score == 0 and len(prompts) == 1
    assert not any(question.hint in text for text in shown)
    assert shown[1].startswith("✗ The answer: ") and question.explanation in shown[1]


def test_the_terminal_and_the_notebook_letter_options_alike_for_a_seed(bank, capsys):
    learner = Learner(bank)
    quiz.run(parse("--seed", "21", "--lab", "3"), read=learner.read, write=learner.write)
    terminal = [re.sub(r"^\d+/\d+\.", "", text) for text in learner.shown if re.match(r"^\d+/\d+\. \[", text)]
    quiz.show(lab=3, seed=21)
    notebook = [re.sub(r"^\d+\.", "", block) for block in capsys.readouterr().out.strip().split("\n\n")]
    assert terminal == notebook


def test_the_terminal_quiz_reasks_on_bad_input_and_stops_at_end_of_input(bank):
    replies = iter(["Z", "", "A"])
    shown = []

    def read(prompt):
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    quiz.run(parse("--seed", "0", "--lab", "1"), read=read, write=shown.append)
    assert any(text.startswith("Please answer with letters A to") for text in shown)
    lab1 = [question for question in bank if question.lab == 1]
    assert shown[-1].startswith("Score: ") and shown[-1].split()[1].endswith(f"/{len(lab1)}")


def test_the_notebook_helper_hints_explains_on_request_and_scores(bank, capsys):
    lab2 = [question for question in bank if question.lab == 2]
    answers = perfect_answers(lab2)
    decoder = by_id(bank, "decoder-purpose")
    answers["decoder-purpose"] = decoder.letter(DECODER_GENERATES)  # half of a multi-select: wrong
    del answers["encoder-purpose"]
    report = quiz.submit(answers, lab=2)
    output = capsys.readouterr().out
    assert report.score == len(lab2) - 2
    assert f"✗ decoder-purpose: not quite (select every right option, and only those). Hint: {decoder.hint}\n" in output
    assert decoder.explanation not in output  # the hint first; the explanation on request
    assert "… encoder-purpose: not answered yet" in output
    right = by_id(bank, "luong-scores")
    assert f"✓ luong-scores: {right.explanation}" in output
    assert output.strip().endswith(f"Score: {len(lab2) - 2}/{len(lab2)} ({100 * (len(lab2) - 2) / len(lab2):.0f}%)")

    quiz.submit(answers, lab=2, explain=True)
    output = capsys.readouterr().out
    letters = ", ".join(f"{decoder.letter(option)}) {option}" for option in decoder.options if option in decoder.answers)
    assert f"  The answer: {letters}. {decoder.explanation}" in output
    assert by_id(bank, "encoder-purpose").explanation in output

    quiz.explain("decoder-purpose")
    assert capsys.readouterr().out == f"decoder-purpose: {letters}. {decoder.explanation}\n"
    with pytest.raises(quiz.QuizError, match="no question 'no-such-question'"):
        quiz.explain("no-such-question")
    quiz.show(lab=2)
    assert "[decoder-purpose]" in capsys.readouterr().out


def shown_letters(output, bank):
    """{question id: letters of its right options} as show() printed them."""
    letters = {}
    for block in output.strip().split("\n\n"):
        question = by_id(bank, re.match(r"^\d+\. \[([a-z0-9-]+)\]", block).group(1))
        options = dict(re.findall(r"^   ([A-Z])\) (.*)$", block, flags=re.MULTILINE))
        letters[question.id] = sorted(letter for letter, text in options.items() if text in question.answers)
    return letters


def test_show_and_submit_with_a_seed_agree_and_shuffle(bank, capsys):
    lab4 = quiz.select(bank, [4])
    quiz.show(lab=4, seed=7)
    shuffled = shown_letters(capsys.readouterr().out, bank)
    assert shuffled == seeded_answers(lab4, 7)
    assert quiz.submit(shuffled, lab=4, seed=7).score == len(lab4)
    # The same seed, as an int or as text, gives the same letters; another seed other letters.
    assert [quiz.options_for(q, 7) for q in lab4] == [quiz.options_for(q, "7") for q in lab4]
    assert [quiz.options_for(q, 7) for q in lab4] != [quiz.options_for(q, 8) for q in lab4]
    # Without a seed, the bank's order, which the notebooks' answer dicts use.
    assert shown_letters("\n\n".join(quiz.format_question(q, 1) for q in lab4), bank) == perfect_answers(lab4)
    assert shuffled != perfect_answers(lab4)
    assert quiz.submit(shuffled, lab=4).score < len(lab4)


def test_python_m_seqlib_quiz_grades_an_answers_file(bank, tmp_path):
    from seqlib.cli import main

    parser = main.build_parser()
    verbs = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert "quiz" in verbs.choices, "`python -m seqlib quiz` is missing: seqlib.cli.main must wire quiz.add_parser"
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(perfect_answers(bank)), encoding="utf-8")
    # The command, and the module's own entry point.
    commands = [[sys.executable, "-m", "seqlib", "quiz"], [sys.executable, "-m", "seqlib.course.quiz"]]
    for command in commands:
        result = subprocess.run([*command, "--answers", str(path)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{path}: {len(bank)}/{len(bank)} (100%)"
    handout = subprocess.run([*commands[0], "--print"], capture_output=True, text=True, timeout=120)
    assert handout.returncode == 0, handout.stderr
    assert len(re.findall(r"^\d+\. \[[a-z0-9-]+\]", handout.stdout, flags=re.MULTILINE)) == len(bank) >= 40
    broken = tmp_path / "broken.json"
    broken.write_text('{"no-such-question": "A"}', encoding="utf-8")
    for command in commands:
        result = subprocess.run([*command, "--answers", str(broken)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "unknown question ids" in result.stderr, result.stderr
