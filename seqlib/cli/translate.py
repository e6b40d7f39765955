"""`python -m seqlib translate`: sentences in, translations out, one line each.

The sentences come as arguments or on standard input, one a line; each batch is
printed as soon as it is translated, so the command can serve as a co-process.
"""

import sys

from seqlib.cli.arguments import ALPHA_HELP, BFLOAT16_HELP, UsageError, check_beam_fits, positive_int
from seqlib.cli.lines import InputLines
from seqlib.cli.tfimport import load_tensorflow
from seqlib.conventions import DEFAULT_ALPHA
from seqlib.rundir import RunDir

# How long `translate` waits for the first line of standard input before it
# starts loading TensorFlow and the model. A writer with nothing to send (an empty
# grep, /dev/null) has closed its end by then, so empty input ends at once, without
# TensorFlow; a writer still at work (or a person typing) gets the model loaded
# meanwhile, and if it then sends nothing the output is empty all the same.
FIRST_LINE_WAIT_S = 0.25


def add_parser(verbs):
    """Adds the `translate` verb to an argparse subparsers object."""
    parser = verbs.add_parser(
        "translate",
        help="translate sentences (arguments, or standard input one a line)",
        description="Translates the arguments, or standard input one sentence a line: one output line per input "
        "line, in order, each batch printed as soon as it is translated (so it can serve as a co-process).",
    )
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory of a trained model")
    parser.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (default: greedy)")
    parser.add_argument("--n-best", type=int, metavar="N", help="print N hypotheses a sentence: INDEX<TAB>SCORE<TAB>TEXT")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help=ALPHA_HELP)
    parser.add_argument("--temperature", type=float, metavar="T", help="sample with this temperature instead of searching")
    parser.add_argument("--top-k", type=int, default=0, metavar="K", help="sample only among the K most probable tokens")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--max-length", type=positive_int, metavar="L", help="most tokens generated a sentence")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="most sentences translated at once (default 64)")
    parser.add_argument(
        "--xla",
        action="store_true",
        help="compile greedy decoding with XLA: faster per batch, but about a second of compiling for each new batch "
        "size and source length (worth it for many same-sized batches)",
    )
    parser.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    parser.add_argument("text", nargs="*", metavar="TEXT", help="sentences to translate; none: read standard input")
    return parser


def run(args):
    """Translates as the parsed arguments say, printing each batch as it is done; returns the exit status."""
    check_decoding_flags(args)
    RunDir(args.model).check_trained()
    if args.text:
        batches = [args.text[start : start + args.batch_size] for start in range(0, len(args.text), args.batch_size)]
    else:
        lines = standard_input_lines()
        if lines.ended_empty(wait=FIRST_LINE_WAIT_S):
            return 0  # nothing to translate is nothing to print, as for sort or sed
        batches = sentence_batches(lines, args.batch_size)
    load_tensorflow(for_serving=True)
    from seqlib.decoding.loading import load_translator
    from seqlib.decoding.serving import translate_sentences

    translator = load_translator(args.model, jit_compile=args.xla, bfloat16_projection=args.bfloat16)
    check_beam_fits(translator, args.beam)
    n_best = args.n_best or 1
    first_line = 1
    for batch in batches:
        translations = translate_sentences(
            translator,
            batch,
            beam_width=args.beam,
            n_best=n_best,
            alpha=args.alpha,
            temperature=args.temperature,
            top_k=args.top_k,
            seed=args.seed,
            max_length=args.max_length,
            batch_size=args.batch_size,
            warn=lambda message: print(f"seqlib translate: warning: {message}", file=sys.stderr),
            first_line_number=first_line,
        )
        print_translations(translations, n_best, first_index=first_line - 1)
        first_line += len(batch)
    return 0


def print_translations(translations, n_best, first_index):
    """Prints one batch's translations: the best alone, or INDEX<TAB>SCORE<TAB>TEXT lines for n-best."""
    for index, hypotheses in enumerate(translations, start=first_index):
        if n_best == 1:
            print(hypotheses[0][0])
        else:
            for text, score in hypotheses:
                print(f"{index}\t{score:.4f}\t{text}")
    # Each batch goes out as soon as it is translated: a co-process's parent
    # waits for these lines before it writes the next.
    sys.stdout.flush()


def check_decoding_flags(args):
    """Refuses decoding flags that contradict each other or are out of range."""
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    if args.n_best is not None and args.n_best < 1:
        raise UsageError(f"--n-best must be at least 1, got {args.n_best}")
    if args.n_best is not None and args.n_best > (args.beam or 1):
        raise UsageError(f"--n-best {args.n_best} needs at least as many beams (--beam {args.n_best})")
    if args.temperature is not None and args.temperature <= 0:
        raise UsageError(f"--temperature must be greater than 0, got {args.temperature:g}")
    if args.temperature is not None and args.beam is not None:
        raise UsageError("choose --beam (search) or --temperature (sampling), not both")
    if args.top_k < 0:
        raise UsageError(f"--top-k must be 0 (off) or more, got {args.top_k}")
    if not 0 <= args.seed < 2**31:
        raise UsageError(f"--seed must be between 0 and {2**31 - 1}, got {args.seed}")


def standard_input_lines():
    """Standard input as InputLines, read as its lines arrive."""
    if sys.stdin is None:  # started with standard input closed
        return InputLines.from_bytes(b"")
    try:
        return InputLines(sys.stdin.fileno())
    except (AttributeError, ValueError):  # a stand-in without a file descriptor (io.StringIO): read it whole
        text = sys.stdin.read()
        return InputLines.from_bytes(text.encode("utf-8") if isinstance(text, str) else text)


def sentence_batches(lines, batch_size):
    """Yields lists of sentences from InputLines, strict UTF-8.

    At a line that is not UTF-8, yields the lines before it, then raises a
    UsageError naming its line number (counted over the whole input).
    """
    number = 0
    for raw_lines in lines.batches(batch_size):
        batch = []
        for raw in raw_lines:
            number += 1
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                if batch:
                    yield batch
                raise UsageError(
                    f"standard input line {number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            batch.append(line.removeprefix("\ufeff") if number == 1 else line)
        yield batch
