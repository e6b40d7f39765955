"""The course quiz: the question bank, grading, and three ways to take it.

The questions are data, in `quiz_bank.json` beside this file. A question has an
`id`, the `lab` it belongs to, its `options` and the option texts that are its
`answers`; a multi-select question (`"multiple": true`) scores only when exactly
the right set is chosen, all or nothing. A question's text is its own words only:
"(select all that apply)" is added when a multi-select question is shown.

- In a terminal: `python -m seqlib quiz [--lab N] [--seed S]` asks each question
  with its options shuffled (the same seed gives the same order) and prints the
  score at the end.
- For instructors: `python -m seqlib quiz --answers alice.json bob.json` grades
  answers files without asking anything (format below); `--print` writes the
  questions as a handout, options lettered in the bank's order.
- In a notebook: `quiz.show(lab=2)` prints the questions; `quiz.submit({...}, lab=2)`
  grades a dict of answers and explains each question.

An answers file (and the notebook's dict) maps question ids to answers. An answer
is an option letter in the bank's order as `--print` and `show()` write them
("B"), several letters for a multi-select question (["A", "C"] or "A,C"), or the
option texts themselves. Questions left out score zero:

    {"seq2seq-architecture": "B", "decoder-purpose": ["B", "D"]}
"""

import argparse
import json
import random
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from seqlib.errors import SeqlibError

BANK_PATH = Path(__file__).resolve().with_name("quiz_bank.json")
LETTERS = string.ascii_uppercase
MULTI_SELECT_HINT = "select all that apply"  # shown after a multi-select question's text
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DESCRIPTION = "Take the course quiz in the terminal, print it, or grade answers files (JSON: {question id: letter(s)})."


class QuizError(SeqlibError):
    """A malformed question bank or answers file; the message names the file and question."""


@dataclass(frozen=True)
class Question:
    id: str
    lab: int
    question: str
    options: tuple  # option texts, in the bank's order
    answers: frozenset  # the option texts that are right
    multiple: bool  # multi-select: all or nothing
    explanation: str

    def letter(self, option):
        return LETTERS[self.options.index(option)]


@dataclass(frozen=True)
class Outcome:
    question: Question
    chosen: frozenset  # option texts; empty when unanswered
    correct: bool


@dataclass(frozen=True)
class Report:
    outcomes: tuple

    @property
    def score(self):
        return sum(outcome.correct for outcome in self.outcomes)

    @property
    def total(self):
        return len(self.outcomes)

    def summary(self):
        percent = 100 * self.score / self.total if self.total else 0.0
        return f"{self.score}/{self.total} ({percent:.0f}%)"


# ---- the bank -----------------------------------------------------------------


def load_bank(path=None):
    """Reads and validates a question bank.

    Args:
        path: a JSON file; None for the bundled seqlib/quiz_bank.json.

    Returns:
        list of Question, in the bank's order.

    Raises:
        QuizError: unreadable JSON, or a question without a valid id, lab,
            options, answers among its options, or with several answers but not
            marked multi-select.
    """
    path = Path(path) if path is not None else BANK_PATH
    try:
        bank = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuizError(f"{path}: cannot read the question bank ({error.strerror})") from None
    except ValueError as error:
        raise QuizError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(bank, dict) or not isinstance(bank.get("questions"), list) or not bank["questions"]:
        raise QuizError(f"{path}: expected an object with a non-empty 'questions' list")
    questions, seen = [], set()
    for number, entry in enumerate(bank["questions"], start=1):
        question = _parse_question(entry, f"{path} question {number}")
        if question.id in seen:
            raise QuizError(f"{path} question {number}: the id {question.id!r} is used twice")
        seen.add(question.id)
        questions.append(question)
    return questions


def _parse_question(entry, where):
    def need(condition, problem):
        if not condition:
            raise QuizError(f"{where}: {problem}")

    need(isinstance(entry, dict), "expected an object")
    identifier = entry.get("id")
    need(
        isinstance(identifier, str) and _ID.match(identifier), f"'id' must be lower-case words joined by '-', got {identifier!r}"
    )
    where = f"{where} ({identifier})"
    need(isinstance(entry.get("lab"), int), "'lab' must be a lab number")
    need(isinstance(entry.get("question"), str) and entry["question"].strip(), "'question' must be non-empty text")
    options = entry.get("options")
    need(
        isinstance(options, list)
        and 2 <= len(options) <= len(LETTERS)
        and all(isinstance(o, str) and o.strip() for o in options),
        "'options' must be a list of 2 to 26 non-empty texts",
    )
    need(len(set(options)) == len(options), "two options have the same text")
    answers = entry.get("answers")
    need(
        isinstance(answers, list) and answers and len(set(answers)) == len(answers),
        "'answers' must be a non-empty list of distinct option texts",
    )
    unknown = [answer for answer in answers if answer not in options]
    need(not unknown, f"answers {unknown} are not among the options")
    multiple = entry.get("multiple", False)
    need(isinstance(multiple, bool), "'multiple' must be true or false")
    need(multiple or len(answers) == 1, f'{len(answers)} answers but not marked "multiple": true')
    explanation = entry.get("explanation", "")
    need(isinstance(explanation, str), "'explanation' must be text")
    return Question(identifier, entry["lab"], entry["question"], tuple(options), frozenset(answers), multiple, explanation)


def select(questions, labs=None):
    """The questions of the given labs (all when labs is empty or None)."""
    if not labs:
        return list(questions)
    chosen = [question for question in questions if question.lab in set(labs)]
    if not chosen:
        raise QuizError(
            f"no questions for lab {', '.join(map(str, labs))}; labs in the bank: {sorted({q.lab for q in questions})}"
        )
    return chosen


# ---- grading ----------------------------------------------------------------


def is_correct(question, chosen):
    """All or nothing: right only when exactly the set of right options is chosen."""
    return frozenset(chosen) == question.answers


def resolve_answer(question, answer, where="answers"):
    """Turns a letter, letters ("A,C" or ["A", "C"]) or option texts into a set of option texts.

    Letters follow the bank's option order. Raises QuizError for anything else.
    """
    items = answer if isinstance(answer, list) else [answer]
    chosen = set()
    for item in items:
        if not isinstance(item, str):
            raise QuizError(f"{where}, question {question.id!r}: expected letters or option texts, got {item!r}")
        if item in question.options:
            chosen.add(item)
            continue
        for part in filter(None, re.split(r"[\s,]+", item.strip())):
            index = LETTERS.find(part.upper()) if len(part) == 1 else -1
            if not 0 <= index < len(question.options):
                valid = ", ".join(LETTERS[: len(question.options)])
                raise QuizError(
                    f"{where}, question {question.id!r}: {part!r} is not an option letter ({valid}) or an option's exact text"
                )
            chosen.add(question.options[index])
    return frozenset(chosen)


def grade(questions, answers, where="answers"):
    """Grades a dict {question id: answer}; questions it leaves out score zero.

    Returns:
        Report. Raises QuizError for an id that is not a question here.
    """
    if not isinstance(answers, dict):
        raise QuizError(f"{where}: expected a JSON object mapping question ids to answers, got {type(answers).__name__}")
    by_id = {question.id: question for question in questions}
    unknown = sorted(set(answers) - set(by_id))
    if unknown:
        raise QuizError(f"{where}: unknown question ids {unknown} (see `python -m seqlib quiz --print`)")
    outcomes = []
    for question in questions:
        chosen = resolve_answer(question, answers[question.id], where) if question.id in answers else frozenset()
        outcomes.append(Outcome(question, chosen, is_correct(question, chosen)))
    return Report(tuple(outcomes))


def grade_file(questions, path):
    path = Path(path)
    try:
        answers = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuizError(f"{path}: cannot read the answers file ({error.strerror})") from None
    except ValueError as error:
        raise QuizError(f"{path}: not valid JSON ({error})") from None
    return grade(questions, answers, where=str(path))


def _letters(question, options):
    return ",".join(sorted(question.letter(option) for option in options)) or "nothing"


# ---- showing questions ------------------------------------------------------


def format_question(question, number, options=None):
    """The question and its options lettered A, B, …; `options` gives their order."""
    options = options or question.options
    # The bank holds the question's own words; the multi-select hint is added here, once,
    # even for a bank whose text already says it.
    says_so = MULTI_SELECT_HINT in question.question.lower()
    kind = f" ({MULTI_SELECT_HINT})" if question.multiple and not says_so else ""
    lines = [f"{number}. [{question.id}] {question.question}{kind}"]
    lines += [f"   {LETTERS[index]}) {option}" for index, option in enumerate(options)]
    return "\n".join(lines)


def show(lab=None, bank=None):
    """Notebook helper: prints the questions of a lab (or all), options in the bank's order."""
    for number, question in enumerate(select(load_bank(bank), [lab] if lab is not None else None), start=1):
        print(format_question(question, number) + "\n")


def submit(answers, lab=None, bank=None):
    """Notebook helper: grades {question id: answer} and prints feedback for each question.

    Only the lab's questions count when `lab` is given.

    Returns:
        Report.
    """
    report = grade(select(load_bank(bank), [lab] if lab is not None else None), answers)
    for outcome in report.outcomes:
        if outcome.correct:
            print(f"✓ {outcome.question.id}: {outcome.question.explanation}")
        elif not outcome.chosen:
            print(f"… {outcome.question.id}: not answered yet")
        else:
            note = " (select every right option, and only those)" if outcome.question.multiple else ""
            print(f"✗ {outcome.question.id}: not quite{note}. Hint: {outcome.question.explanation}")
    print(f"Score: {report.summary()}")
    return report


# ---- the terminal quiz ------------------------------------------------------


def interactive(questions, seed=None, read=input, write=print):
    """Asks each question with shuffled options, gives feedback, and returns the Report.

    An empty reply skips a question; end of input stops the quiz, leaving the
    remaining questions unanswered.
    """
    shuffler = random.Random(seed)
    outcomes = []
    for number, question in enumerate(questions, start=1):
        options = list(question.options)
        shuffler.shuffle(options)
        write(format_question(question, f"{number}/{len(questions)}", options))
        chosen = None
        while chosen is None:
            try:
                reply = read("Your answer" + (" (letters, e.g. A,C)" if question.multiple else "") + ": ")
            except EOFError:
                write("")
                return Report(tuple(outcomes) + tuple(Outcome(q, frozenset(), False) for q in questions[len(outcomes) :]))
            parts = [part.upper() for part in re.split(r"[\s,]+", reply.strip()) if part]
            if all(len(part) == 1 and 0 <= LETTERS.find(part) < len(options) for part in parts):
                chosen = frozenset(options[LETTERS.index(part)] for part in parts)
            else:
                write(f"Please answer with letters A to {LETTERS[len(options) - 1]}.")
        correct = is_correct(question, chosen)
        if correct:
            write(f"✓ Right. {question.explanation}\n")
        else:
            right = ", ".join(f"{LETTERS[options.index(o)]}) {o}" for o in options if o in question.answers)
            write(f"✗ The answer: {right}\n  {question.explanation}\n")
        outcomes.append(Outcome(question, chosen, correct))
    return Report(tuple(outcomes))


# ---- the command line -------------------------------------------------------


def add_parser(subparsers):
    """Adds the `quiz` verb to an argparse subparsers object (seqlib.cli wires it)."""
    parser = subparsers.add_parser(
        "quiz",
        help="take the course quiz, or grade answers files",
        description=DESCRIPTION,
    )
    _add_arguments(parser)
    return parser


def _add_arguments(parser):
    parser.add_argument("--lab", type=int, action="append", metavar="N", help="only the questions of lab N (repeatable)")
    parser.add_argument("--seed", type=int, help="shuffle the options reproducibly (default: a new order each time)")
    parser.add_argument("--bank", metavar="FILE", help="question bank JSON (default: the bundled seqlib/quiz_bank.json)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--answers", nargs="+", metavar="FILE", help="grade these answers files and print a score for each")
    mode.add_argument("--print", action="store_true", help="print the questions, options lettered in the bank's order")


def run(args, read=input, write=print):
    """Runs the parsed `quiz` arguments; returns the exit status."""
    questions = select(load_bank(args.bank), args.lab)
    if args.print:
        for number, question in enumerate(questions, start=1):
            write(format_question(question, number) + "\n")
        return 0
    if args.answers:
        for path in args.answers:
            report = grade_file(questions, path)
            write(f"{path}: {report.summary()}")
            for outcome in report.outcomes:
                if not outcome.correct:
                    question = outcome.question
                    write(
                        f"  ✗ {question.id}: chose {_letters(question, outcome.chosen)}, answer {_letters(question, question.answers)}"
                    )
        return 0
    write(f"{len(questions)} questions. Answer with the option letter; multi-select questions need every right letter.\n")
    report = interactive(questions, seed=args.seed, read=read, write=write)
    write(f"Score: {report.summary()}")
    return 0


def main(argv=None):
    """`python -m seqlib.quiz`, the same as `python -m seqlib quiz`."""
    parser = argparse.ArgumentParser(prog="python -m seqlib.quiz", description=DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SeqlibError as error:
        print(f"seqlib quiz: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nseqlib quiz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
