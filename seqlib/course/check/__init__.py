"""Auto-graders for the labs' exercises: one function per exercise, one module per lab.

Each check runs the learner's function on inputs the notebook never showed,
compares the result with seqlib's own implementation (or a reference written
here, for the pieces the library does not need) and prints one ✓ line. On a
wrong answer it raises `CheckFailed`, whose message gives a hint (the common
mistake that explains the difference, where one does) and then always the same
three things: the input, what was expected, and what came back.

`NotImplementedError` from an unfinished exercise passes through unchanged, so
an exercise notebook fails exactly at its TODOs and nowhere else.

    from seqlib.course import check
    check.teacher_forcing(my_shift)   # ✓ teacher_forcing: ...

This package's public face is the graders, gathered here from the modules that
hold them so that a lab needs only `check.<exercise>`:

    data               lab 1: standardize, wordpiece, teacher_forcing
    attention_decoder  lab 2: attention, decoder
    training           lab 3: masked_loss, train_step
    search             lab 4: greedy_step, greedy_search, beam_top_k, beam_search
    beyond_rnns        lab 5: self_attention, mean_pool, sentence_search
    report             how a grader reports: CheckFailed, ✓ lines, hints
    inputs             what several labs' graders share: the seed, random targets, a small model
"""

from seqlib.course.check.attention_decoder import attention, decoder
from seqlib.course.check.beyond_rnns import mean_pool, self_attention, sentence_search
from seqlib.course.check.data import standardize, teacher_forcing, wordpiece
from seqlib.course.check.report import CheckFailed
from seqlib.course.check.search import beam_search, beam_top_k, greedy_search, greedy_step
from seqlib.course.check.training import masked_loss, train_step

__all__ = [
    "CheckFailed",
    "attention",
    "beam_search",
    "beam_top_k",
    "decoder",
    "greedy_search",
    "greedy_step",
    "masked_loss",
    "mean_pool",
    "self_attention",
    "sentence_search",
    "standardize",
    "teacher_forcing",
    "train_step",
    "wordpiece",
]
