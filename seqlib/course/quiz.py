"""The course quiz: the question bank, grading, and three ways to take it.

The questions are data, in `quiz_bank.json` beside this file. A question has an
`id`, the `lab` it belongs to, its `options` and the option texts that are its
`answers`; a multi-select question (`"multiple": true`) scores only when exactly
the right set is chosen, all or nothing. A question's text is its own words only:
"(select all that apply)" is added when a multi-select question is shown. Each
question also has a `hint`, a nudge shown after a wrong answer, an `explanation`,
shown once the answer is right or given away, and a `kind`: "recall" (knowing a
fact) or "reasoning" (working something out: a shape, a beam step, a loss).

A seed shuffles each question's options, so that letters differ from learner to
learner and cannot be passed around or guessed from a pattern; the same seed
always gives the same letters, wherever the quiz is taken. No seed keeps the
bank's order.

- In a terminal: `python -m seqlib quiz [--lab N] [--seed S]` asks each question
  with its options shuffled. A wrong answer gets a hint and a second try; a second
  wrong answer, or "?", shows the answer and its explanation. The score is
  printed at the end.
- For instructors: `python -m seqlib quiz --answers alice.json bob.json` grades
  answers files without asking anything (format below; `--seed S` reads the
  letters as seed S shuffled them); `--print` writes the questions as a handout,
  options lettered in the bank's order.
- In a notebook: `quiz.show(lab=2, seed=S)` prints the questions;
  `quiz.submit({...}, lab=2, seed=S)` grades a dict of answers: a right answer is
  explained, a wrong one gets a hint. `submit(..., explain=True)` or
  `quiz.explain("question-id", seed=S)` shows the answers and explanations.

An answers file (and the notebook's dict) maps question ids to answers. An answer
is an option letter as `--print` and `show()` write them ("B"; in the bank's order
unless a seed shuffled them), several letters for a multi-select question
(["A", "C"] or "A,C"), or the option texts themselves. Questions left out score zero:

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
KINDS = ("recall", "reasoning")  # what a question asks of a learner: knowing a fact, or working something out
GIVE_UP = "?"  # the terminal reply that shows the answer and its explanation (the question scores zero)
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
    explanation: str  # shown once the answer is right, or given away
    hint: str  # shown after a wrong answer: a nudge, not the answer
    kind: str  # one of KINDS

    def letter(self, option):
        """The option's letter in the bank's order."""
        return LETTERS[self.options.index(option)]


def options_for(question, seed=None):
    """The question's options in the order a learner sees them.

    Args:
        question: Question.
        seed: None for the bank's order; otherwise an int or text (a learner's
            name, say). The options are shuffled by the seed and the question's
            id together, so one question's order does not depend on which other
            questions are asked, and the same seed gives the same letters in
            show(), submit(), explain() and the terminal quiz.

    Returns:
        tuple of option texts.
    """
    if seed is None:
        return question.options
    options = list(question.options)
    # A text seed is hashed with SHA-512 by `random`, so the order is the same in
    # every process (unlike hash(), which Python salts per process).
    random.Random(f"{seed}/{question.id}").shuffle(options)
    return tuple(options)


@dataclass(frozen=True)
class Outcome:
    question: Question
    chosen: frozenset  # option texts; empty when unanswered
    correct: bool
    tries: int = 1  # answers given in the terminal quiz: 2 when the first was wrong


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
            options, answers among its options, hint or kind, or with several
            answers but not marked multi-select.
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
    hint = entry.get("hint")
    need(
        isinstance(hint, str) and hint.strip(),
        "'hint' must be non-empty text: a nudge shown after a wrong answer, without giving the answer away",
    )
    need(hint.strip() != explanation.strip(), "'hint' repeats the explanation; a hint should nudge, not explain the answer")
    kind = entry.get("kind")
    need(kind in KINDS, f"'kind' must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    return Question(
        identifier, entry["lab"], entry["question"], tuple(options), frozenset(answers), multiple, explanation, hint, kind
    )


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


def resolve_answer(question, answer, where="answers", seed=None):
    """Turns a letter, letters ("A,C" or ["A", "C"]) or option texts into a set of option texts.

    Letters follow the options' order for `seed` (see options_for; None: the
    bank's order). Raises QuizError for anything else.
    """
    options = options_for(question, seed)
    items = answer if isinstance(answer, list) else [answer]
    chosen = set()
    for item in items:
        if not isinstance(item, str):
            raise QuizError(f"{where}, question {question.id!r}: expected letters or option texts, got {item!r}")
        if item in options:
            chosen.add(item)
            continue
        for part in filter(None, re.split(r"[\s,]+", item.strip())):
            index = LETTERS.find(part.upper()) if len(part) == 1 else -1
            if not 0 <= index < len(options):
                valid = ", ".join(LETTERS[: len(options)])
                raise QuizError(
                    f"{where}, question {question.id!r}: {part!r} is not an option letter ({valid}) or an option's exact text"
                )
            chosen.add(options[index])
    return frozenset(chosen)


def grade(questions, answers, where="answers", seed=None):
    """Grades a dict {question id: answer}; questions it leaves out score zero.

    Letters are read in the options' order for `seed` (None: the bank's order).

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
        chosen = resolve_answer(question, answers[question.id], where, seed) if question.id in answers else frozenset()
        outcomes.append(Outcome(question, chosen, is_correct(question, chosen)))
    return Report(tuple(outcomes))


def grade_file(questions, path, seed=None):
    path = Path(path)
    try:
        answers = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuizError(f"{path}: cannot read the answers file ({error.strerror})") from None
    except ValueError as error:
        raise QuizError(f"{path}: not valid JSON ({error})") from None
    return grade(questions, answers, where=str(path), seed=seed)


def _letters(question, chosen, seed=None):
    order = options_for(question, seed)
    return ",".join(sorted(LETTERS[order.index(option)] for option in chosen)) or "nothing"


def _answer_text(question, options):
    """The right options with their letters in `options`' order: "B) Encoder-decoder"."""
    return ", ".join(f"{LETTERS[index]}) {option}" for index, option in enumerate(options) if option in question.answers)


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


def show(lab=None, bank=None, seed=None):
    """Notebook helper: prints the questions of a lab (or all).

    Args:
        lab: a lab number; None for every question.
        bank: a question bank file; None for the bundled one.
        seed: None for the bank's order of options; otherwise an int or text
            that shuffles them (see options_for). Pass submit() the same seed.
    """
    for number, question in enumerate(select(load_bank(bank), [lab] if lab is not None else None), start=1):
        print(format_question(question, number, options_for(question, seed)) + "\n")


def submit(answers, lab=None, bank=None, seed=None, explain=False):
    """Notebook helper: grades {question id: answer} and prints feedback for each question.

    A right answer is explained; a wrong one gets a hint, so that the learner can
    think again and resubmit. Only the lab's questions count when `lab` is given.

    Args:
        answers: dict {question id: letter(s) or option text(s)}.
        lab, bank: as in show().
        seed: the seed given to show(), so that letters mean the options it
            printed; None for the bank's order.
        explain: also print the answer and explanation of every question not
            answered right.

    Returns:
        Report.
    """
    report = grade(select(load_bank(bank), [lab] if lab is not None else None), answers, seed=seed)
    for outcome in report.outcomes:
        question = outcome.question
        if outcome.correct:
            print(f"✓ {question.id}: {question.explanation}")
            continue
        if not outcome.chosen:
            print(f"… {question.id}: not answered yet")
        else:
            note = " (select every right option, and only those)" if question.multiple else ""
            print(f"✗ {question.id}: not quite{note}. Hint: {question.hint}")
        if explain:
            print(f"  The answer: {_answer_text(question, options_for(question, seed))}. {question.explanation}")
    print(f"Score: {report.summary()}")
    return report


def explain(question_id, seed=None, bank=None):
    """Notebook helper: prints one question's answer (lettered as show(seed=seed)
    letters it) and its explanation, for when the hint was not enough."""
    questions = load_bank(bank)
    question = next((question for question in questions if question.id == question_id), None)
    if question is None:
        raise QuizError(f"no question {question_id!r} in the bank (see `python -m seqlib quiz --print`)")
    print(f"{question.id}: {_answer_text(question, options_for(question, seed))}. {question.explanation}")


# ---- the terminal quiz ------------------------------------------------------


def _prompt(question, second_try):
    """The terminal quiz's prompt line; it says how to see the explanation."""
    letters = "letters, e.g. A,C; " if question.multiple else ""
    return f"Your {'second ' if second_try else ''}answer ({letters}{GIVE_UP} shows the explanation): "


def interactive(questions, seed=None, read=input, write=print):
    """Asks each question with shuffled options, gives feedback, and returns the Report.

    A wrong answer gets the question's hint and a second try; a second wrong
    answer shows the right one and the explanation. "?" shows them at once and
    an empty reply skips the question; both score zero. End of input stops the
    quiz, leaving the remaining questions unanswered.

    Args:
        seed: shuffles the options as options_for does (the same letters as
            show(seed=seed)); None draws a new seed, so each run differs.
    """
    if seed is None:
        seed = random.randrange(2**32)
    outcomes = []
    for number, question in enumerate(questions, start=1):
        options = options_for(question, seed)
        write(format_question(question, f"{number}/{len(questions)}", options))
        tries, chosen = 0, frozenset()
        while tries < 2:
            try:
                reply = _read_reply(question, options, tries == 1, read, write)
            except EOFError:
                write("")
                return Report(tuple(outcomes) + tuple(Outcome(q, frozenset(), False) for q in questions[len(outcomes) :]))
            if reply is None:  # "?" or an empty reply: show the answer now
                break
            tries, chosen = tries + 1, reply
            if is_correct(question, chosen) or tries == 2:
                break
            note = " (select every right option, and only those)" if question.multiple else ""
            write(f"✗ Not quite{note}. Hint: {question.hint}")
        correct = is_correct(question, chosen)
        if correct:
            write(f"✓ Right{' at the second try' if tries == 2 else ''}. {question.explanation}\n")
        else:
            write(f"✗ The answer: {_answer_text(question, options)}\n  {question.explanation}\n")
        outcomes.append(Outcome(question, chosen, correct, max(tries, 1)))
    return Report(tuple(outcomes))


def _read_reply(question, options, second_try, read, write):
    """Reads one reply: a frozenset of chosen options, or None to give up (? or
    nothing). Asks again until it can tell; EOFError passes through."""
    while True:
        reply = read(_prompt(question, second_try)).strip()
        if reply in ("", GIVE_UP):
            return None
        parts = [part.upper() for part in re.split(r"[\s,]+", reply) if part]
        if all(len(part) == 1 and 0 <= LETTERS.find(part) < len(options) for part in parts):
            return frozenset(options[LETTERS.index(part)] for part in parts)
        write(f"Please answer with letters A to {LETTERS[len(options) - 1]}, or {GIVE_UP} to see the explanation.")


# ---- the command line -------------------------------------------------------


def add_parser(subparsers):
    """Adds the `quiz` verb to an argparse subparsers object (seqlib.cli.main wires it)."""
    parser = subparsers.add_parser(
        "quiz",
        help="take the course quiz, or grade answers files",
        description=DESCRIPTION,
    )
    _add_arguments(parser)
    return parser


def _add_arguments(parser):
    parser.add_argument("--lab", type=int, action="append", metavar="N", help="only the questions of lab N (repeatable)")
    parser.add_argument(
        "--seed",
        metavar="S",
        help="shuffle the options reproducibly, with the letters quiz.show(seed=S) prints (default: a new order each time); "
        "with --answers, read the letters in that order (default: the bank's order); --print keeps the bank's order",
    )
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
            report = grade_file(questions, path, seed=args.seed)
            write(f"{path}: {report.summary()}")
            for outcome in report.outcomes:
                if not outcome.correct:
                    question = outcome.question
                    chose, answer = _letters(question, outcome.chosen, args.seed), _letters(question, question.answers, args.seed)
                    write(f"  ✗ {question.id}: chose {chose}, answer {answer}")
        return 0
    write(
        f"{len(questions)} questions. Answer with the option letter; multi-select questions need every right letter. "
        f"A wrong answer gets a hint and a second try; {GIVE_UP} shows the explanation.\n"
    )
    report = interactive(questions, seed=args.seed, read=read, write=write)
    second = sum(outcome.correct and outcome.tries == 2 for outcome in report.outcomes)
    write(f"Score: {report.summary()}" + (f", {second} of them at the second try" if second else ""))
    return 0


def main(argv=None):
    """`python -m seqlib.course.quiz`, the same as `python -m seqlib quiz`."""
    parser = argparse.ArgumentParser(prog="python -m seqlib.course.quiz", description=DESCRIPTION)
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
