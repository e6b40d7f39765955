"""The quiz: the bank's content, all-or-nothing grading, answers files, the terminal
quiz with seeded shuffling, and the notebook helper."""

import argparse
import json
import re
import subprocess
import sys

import pytest

from seqlib import quiz

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


def test_the_bank_has_at_least_20_valid_questions_over_all_five_labs(bank):
    assert len(bank) >= 20
    assert len({question.id for question in bank}) == len(bank)
    assert {question.lab for question in bank} == {1, 2, 3, 4, 5}
    for question in bank:
        assert question.answers <= set(question.options)
        assert question.multiple or len(question.answers) == 1


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
    entry = {"id": "q", "lab": 1, "question": "Which? Select all that apply.", "options": ["a", "b", "c"], "answers": ["a", "b"]}
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"questions": [dict(entry, multiple=True)]}), encoding="utf-8")
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
    question = {"id": "q", "lab": 1, "question": "?", "options": ["a", "b"], "answers": ["a", "b"]}
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"questions": [question]}), encoding="utf-8")
    with pytest.raises(quiz.QuizError, match='2 answers but not marked "multiple": true'):
        quiz.load_bank(path)
    path.write_text(json.dumps({"questions": [dict(question, answers=["c"])]}), encoding="utf-8")
    with pytest.raises(quiz.QuizError, match="not among the options"):
        quiz.load_bank(path)
    path.write_text(json.dumps({"questions": [dict(question, answers=["a"])] * 2}), encoding="utf-8")
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

    def orders(seed):
        learner = Learner(bank)
        quiz.run(parse("--seed", str(seed)), read=learner.read, write=learner.write)
        return [text for text in learner.shown if re.match(r"^\d+/\d+\. \[", text)]

    assert orders(3) == orders(3)
    assert orders(3) != orders(4)


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


def test_the_notebook_helper_explains_and_scores(bank, capsys):
    lab2 = [question for question in bank if question.lab == 2]
    answers = perfect_answers(lab2)
    decoder = by_id(bank, "decoder-purpose")
    answers["decoder-purpose"] = decoder.letter(DECODER_GENERATES)  # half of a multi-select: wrong
    del answers["encoder-purpose"]
    report = quiz.submit(answers, lab=2)
    output = capsys.readouterr().out
    assert report.score == len(lab2) - 2
    assert "✗ decoder-purpose: not quite (select every right option, and only those)" in output
    assert "… encoder-purpose: not answered yet" in output
    assert output.strip().endswith(f"Score: {len(lab2) - 2}/{len(lab2)} ({100 * (len(lab2) - 2) / len(lab2):.0f}%)")
    quiz.show(lab=2)
    assert "[decoder-purpose]" in capsys.readouterr().out


def test_python_m_seqlib_quiz_grades_an_answers_file(bank, tmp_path):
    from seqlib import cli

    parser = cli.build_parser()
    verbs = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert "quiz" in verbs.choices, "`python -m seqlib quiz` is missing: seqlib.cli must wire quiz.add_parser"
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(perfect_answers(bank)), encoding="utf-8")
    # The command, and the module's own entry point.
    commands = [[sys.executable, "-m", "seqlib", "quiz"], [sys.executable, "-m", "seqlib.quiz"]]
    for command in commands:
        result = subprocess.run([*command, "--answers", str(path)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{path}: {len(bank)}/{len(bank)} (100%)"
    broken = tmp_path / "broken.json"
    broken.write_text('{"no-such-question": "A"}', encoding="utf-8")
    for command in commands:
        result = subprocess.run([*command, "--answers", str(broken)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "unknown question ids" in result.stderr, result.stderr
