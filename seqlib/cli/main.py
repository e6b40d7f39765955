"""The command line: python -m seqlib {train,translate,evaluate,export,bench,quiz} ...

Every verb checks its arguments, files and run directories before it imports
TensorFlow, which is most of a short command's time (6-8 s on 2 CPU cores): a
mistake is reported at once, as one line `seqlib VERB: error: ...`, status 2.
"""

import argparse
import difflib
import json
import os
import signal
import sys
import warnings

from seqlib.cli.lines import InputLines
from seqlib.cli.tfimport import load_tensorflow
from seqlib.config import PRESETS, check_training_limits, get_preset
from seqlib.conventions import DEFAULT_ALPHA
from seqlib.course import quiz
from seqlib.errors import SeqlibError
from seqlib.models.registry import ARCHITECTURES
from seqlib.rundir import RunDir, load_translator

# Keras warns about things seqlib does on purpose (a tf.data input with shuffle=True,
# repeated datasets ending); users should see seqlib's messages, not these.
warnings.filterwarnings("ignore", category=UserWarning, module="keras")

PROG = "python -m seqlib"
# How long `translate` waits for the first line of standard input before it
# starts loading TensorFlow and the model. A writer with nothing to send (an empty
# grep, /dev/null) has closed its end by then, so empty input ends at once, without
# TensorFlow; a writer still at work (or a person typing) gets the model loaded
# meanwhile, and if it then sends nothing the output is empty all the same.
FIRST_LINE_WAIT_S = 0.25
# Verbs whose work is complete and flushed when they return end the process
# without the interpreter's teardown of TensorFlow's thousands of modules and
# objects (about 2 s of a one-sentence translate on a 2-core AMD EPYC). Not train or
# bench: they may leave TensorBoard writers and threads to finish, and run long anyway.
ENDS_WITHOUT_TEARDOWN = ("translate", "evaluate", "export")


class UsageError(SeqlibError):
    """A flag or an input that the command cannot use."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the verb (no usage block),
    like every other seqlib error, and an unknown option is named even when a
    required one is missing (argparse alone reports only the missing one, which
    hides the typo in `--modle RUN_DIR`)."""

    def error(self, message):
        name = self.prog.replace(PROG, "seqlib", 1)
        self.exit(2, f"{name}: error: {message} (see {self.prog} --help)\n")

    def unrecognized(self, extras):
        """The message for unknown arguments, with the closest options as guesses."""
        options = [option for action in self._actions for option in action.option_strings]
        guesses = []
        for extra in extras:
            if extra.startswith("--"):
                guesses += difflib.get_close_matches(extra.split("=", 1)[0], options, n=1)
        hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
        return f"unrecognized arguments: {' '.join(extras)}{hint}"

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        required = [action for action in self._actions if action.required and action.option_strings]
        if not required or {"-h", "--help"} & set(args):  # help shows required options as required
            return super().parse_known_args(args, namespace)
        # Parse with the required options made optional, then check them here,
        # where the unknown arguments are known too.
        for action in required:
            action.required = False
        try:
            namespace, extras = super().parse_known_args(args, namespace)
        finally:
            for action in required:
                action.required = True
        missing = ["/".join(action.option_strings) for action in required if getattr(namespace, action.dest) is None]
        if missing:
            message = f"the following arguments are required: {', '.join(missing)}"
            self.error(f"{self.unrecognized(extras)}; {message}" if extras else message)
        return namespace, extras


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


ALPHA_HELP = f"beam search length penalty exponent (default {DEFAULT_ALPHA})"
BFLOAT16_HELP = (
    "project onto the vocabulary in bfloat16: beam search 15-25%% faster on CPUs with AMX/AVX512-BF16 "
    "(greedy about the same), slower elsewhere; a near tie between two words may go the other way"
)


def build_parser():
    parser = OneLineParser(prog=PROG, description="Train and use an English→French translator (GRU or transformer).")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    parser.verb_parsers = verbs.choices

    train = verbs.add_parser("train", help="train a model into a run directory (resumes if it exists)")
    train.add_argument("--config", required=True, metavar="PRESET", help=f"preset: {', '.join(PRESETS)}")
    train.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        help="model family (default gru); the preset sizes it; saved in the run, which every other verb reads",
    )
    train.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory (created; resumed if it holds a checkpoint)"
    )
    train.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    train.add_argument("--max-pairs", type=positive_int, help="use only the first N pairs of the corpus")
    train.add_argument("--data", metavar="FILE", help="corpus of English<TAB>French lines (default: data/fra.txt.gz)")
    train.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop when this much time has passed (the epoch ends there and is checkpointed)",
    )
    train.add_argument(
        "--schedule",
        choices=("budget", "constant"),
        default="budget",
        help="with --time-budget: 'budget' (default) warms the learning rate up, then decays it to 1%% as the "
        "budget runs out; 'constant' keeps the preset's rate",
    )
    train.add_argument(
        "--strategy",
        default="default",
        choices=["default", "mirrored", "multiworker", "tpu"],
        help="tf.distribute strategy (default: one device); the batch size is per replica",
    )

    translate = verbs.add_parser(
        "translate",
        help="translate sentences (arguments, or standard input one a line)",
        description="Translates the arguments, or standard input one sentence a line: one output line per input "
        "line, in order, each batch printed as soon as it is translated (so it can serve as a co-process).",
    )
    translate.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory of a trained model")
    translate.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (default: greedy)")
    translate.add_argument("--n-best", type=int, metavar="N", help="print N hypotheses a sentence: INDEX<TAB>SCORE<TAB>TEXT")
    translate.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help=ALPHA_HELP)
    translate.add_argument("--temperature", type=float, metavar="T", help="sample with this temperature instead of searching")
    translate.add_argument("--top-k", type=int, default=0, metavar="K", help="sample only among the K most probable tokens")
    translate.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    translate.add_argument("--max-length", type=positive_int, metavar="L", help="most tokens generated a sentence")
    translate.add_argument("--batch-size", type=positive_int, default=64, help="most sentences translated at once (default 64)")
    translate.add_argument(
        "--xla",
        action="store_true",
        help="compile greedy decoding with XLA: faster per batch, but about a second of compiling for each new batch "
        "size and source length (worth it for many same-sized batches)",
    )
    translate.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    translate.add_argument("text", nargs="*", metavar="TEXT", help="sentences to translate; none: read standard input")

    evaluate = verbs.add_parser("evaluate", help="BLEU and chrF (sacreBLEU) of a run on its test split or a pairs file")
    evaluate.add_argument("--model", metavar="RUN_DIR", help="run directory to evaluate")
    evaluate.add_argument("--pairs", metavar="FILE", help="English<TAB>French file; lines sharing a source are its references")
    evaluate.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (default: greedy)")
    evaluate.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help=ALPHA_HELP)
    evaluate.add_argument("--limit", type=positive_int, metavar="N", help="only the first N distinct sources")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    evaluate.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    evaluate.add_argument(
        "--compare", nargs="+", metavar="RUN_DIR", help="print a table of the saved evaluations of these runs (and --model's)"
    )

    bench = verbs.add_parser(
        "bench",
        help="measure training and decoding speed on this machine",
        description="Training and decoding speed, side by side in one run: tokens/s, sentences/s, "
        "first-call time, peak memory, fraction of the measured matmul peak (see bench/README.md).",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="fewer variants and repeats, 10 s of training a model (under 3 minutes on 2 CPU cores)",
    )
    bench.add_argument(
        "--train-seconds",
        type=float,
        metavar="S",
        help="seconds each model (seqlib's and the tutorial's) trains (default 10 with --quick, else 60)",
    )
    bench.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    bench.add_argument(
        "--model", metavar="RUN_DIR", help="measure decoding on this trained run (default: the model the bench trains)"
    )
    bench.add_argument(
        "--transformer-model",
        metavar="RUN_DIR",
        help="measure the transformer's decoding on this trained run (default: the transformer the bench trains)",
    )
    bench.add_argument("--config", default="cpu", metavar="PRESET", help="preset whose models are measured (default cpu)")

    quiz.add_parser(verbs)

    export = verbs.add_parser("export", help="write a SavedModel that TensorFlow can serve without seqlib")
    export.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory of a trained model")
    export.add_argument("--out", required=True, metavar="EXPORT_DIR", help="directory to write (new, or empty)")
    return parser


def parse_arguments(argv=None):
    """The parsed arguments; a usage error exits with one line and status 2."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Named by the verb's parser, so the message says which verb has no such option.
        verb_parser = parser.verb_parsers[args.verb]
        verb_parser.error(verb_parser.unrecognized(unknown))
    return args


def main(argv=None):
    """Runs one command in this process and returns its exit status."""
    return run(parse_arguments(argv))


def run(args):
    """Runs parsed arguments; a user's error is one line on stderr and status 2."""
    try:
        return VERBS[args.verb](args)
    except BrokenPipeError:
        raise  # the reader has gone: entry_point ends the process the Unix way, silently
    except SeqlibError as error:
        print(f"seqlib {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seqlib {args.verb}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # A full disk or a vanished directory mid-run: the last complete checkpoint is
        # still in place, so say what failed and how to go on.
        where = f" ({error.filename})" if error.filename else ""
        hint = "; rerun the same command to resume" if args.verb == "train" else ""
        print(f"seqlib {args.verb}: error: {error.strerror or error}{where}{hint}", file=sys.stderr)
        return 1


def run_train(args):
    config = get_preset(args.config, args.arch or "gru")
    check_training_limits(args.epochs, args.time_budget)
    run = RunDir(args.out)
    resuming = run.path.exists() and (not run.path.is_dir() or run.config_file.exists())
    if resuming:
        run.load_config()  # a file in the way, or a run to resume that this seqlib cannot read
    if args.data is not None:
        from seqlib.data.corpus import check_corpus_file, read_pairs  # pandas, not TensorFlow: quick before the slow import

        if resuming:
            check_corpus_file(args.data)  # a resumed run reads its own corpus
        else:
            # Every line training will read (and the file itself), checked before the slow
            # import: a bad line is an error in about a second, not after TensorFlow's 8.
            read_pairs(args.data, max_pairs=args.max_pairs if args.max_pairs is not None else config.max_pairs)
    load_tensorflow(collective_ops=args.strategy == "multiworker")
    from seqlib.training.train import train

    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if args.max_pairs is not None:
        config = config.replace(max_pairs=args.max_pairs)
    train(
        config,
        args.out,
        data_path=args.data,
        time_budget=args.time_budget,
        schedule=args.schedule,
        verbose=2 if not sys.stderr.isatty() else "auto",
        strategy=args.strategy,
        explicit=tuple(name for name, value in (("max_pairs", args.max_pairs), ("arch", args.arch)) if value is not None),
    )
    print(f"trained model saved in {args.out}", file=sys.stderr)
    return 0


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


def check_decoding_flags(args):
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


def check_beam_fits(translator, beam_width):
    """More beams than target words cannot be filled; say so before decoding."""
    words = int(translator.target_tokens.shape[0])
    if beam_width is not None and beam_width > words:
        raise UsageError(f"--beam {beam_width} is more than the model's {words} target words")


def run_translate(args):
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
        for index, hypotheses in enumerate(translations, start=first_line - 1):
            if n_best == 1:
                print(hypotheses[0][0])
            else:
                for text, score in hypotheses:
                    print(f"{index}\t{score:.4f}\t{text}")
        # Each batch goes out as soon as it is translated: a co-process's parent
        # waits for these lines before it writes the next.
        sys.stdout.flush()
        first_line += len(batch)
    return 0


def run_evaluate(args):
    if args.compare:
        # `--model A --compare B C` compares all three.
        runs = list(dict.fromkeys(([args.model] if args.model else []) + args.compare))  # each run once, in order
        for run_dir in runs:
            RunDir(run_dir).load_config()
        load_tensorflow()  # seqlib.evaluation.scores imports it
        from seqlib.evaluation import scores

        table = scores.compare_runs(runs)
        print(table.to_json(orient="records") if args.json else table.to_string(index=False))
        return 0
    if not args.model:
        raise UsageError("give --model RUN_DIR (or --compare RUN_DIR ...)")
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    run = RunDir(args.model)
    run.check_trained()
    if args.pairs:
        from seqlib.data.corpus import read_pairs  # pandas, not TensorFlow: quick before the slow import

        read_pairs(args.pairs)  # a bad line is an error before the slow import
    else:
        run.require(run.test_pairs)
    load_tensorflow()
    import pandas as pd

    from seqlib.evaluation import scores

    translator = load_translator(args.model, bfloat16_projection=args.bfloat16)
    check_beam_fits(translator, args.beam)
    result = scores.evaluate_run(
        args.model, args.pairs, beam_width=args.beam, alpha=args.alpha, limit=args.limit, translator=translator
    )
    path = scores.save_result(args.model, result)
    examples = result.pop("examples")
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"BLEU {result['bleu']:.2f}  chrF {result['chrf']:.2f}  (lower-cased, accents stripped: BLEU {result['bleu_folded']:.2f})"
    )
    print(
        f"{result['n']} distinct sources from {result['pairs']}, {result['decoding']} decoding (beam {result['beam_width']}), {result['sentences_per_s']} sentences/s"
    )
    print(f"sacreBLEU: {result['bleu_signature']}")
    print(f"           {result['chrf_signature']}")
    best, worst = scores.best_and_worst(examples)
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print("\nbest:")
        print(best.to_string(index=False))
        if len(worst):
            print("\nworst:")
            print(worst.to_string(index=False))
    print(f"\nsaved in {path}")
    return 0


def run_export(args):
    from seqlib.decoding.export import check_destination, export

    RunDir(args.model).check_trained()
    check_destination(args.out)
    load_tensorflow(for_serving=True)
    path = export(args.model, args.out)
    print(f"SavedModel written to {path}", file=sys.stderr)
    return 0


def run_bench(args):
    get_preset(args.config)
    if args.train_seconds is not None and not args.train_seconds > 0:
        raise UsageError(f"--train-seconds must be a positive number of seconds, got {args.train_seconds:g}")
    for run_dir, arch in ((args.model, None), (args.transformer_model, "transformer")):
        if run_dir:
            config = RunDir(run_dir).check_trained()
            if arch and config.arch != arch:
                raise UsageError(f"--transformer-model {run_dir} is a {config.arch} run, not a transformer")
    load_tensorflow()
    from seqlib.bench.main import main as bench_main

    bench_main(
        quick=args.quick,
        json_file=args.json,
        model_dir=args.model,
        preset=args.config,
        train_seconds=args.train_seconds,
        transformer_dir=args.transformer_model,
    )
    return 0


VERBS = {
    "train": run_train,
    "translate": run_translate,
    "evaluate": run_evaluate,
    "export": run_export,
    "bench": run_bench,
    "quiz": quiz.run,
}


def die_of_broken_pipe():
    """Ends the process as a Unix tool ends when its reader has gone (`| head`):
    killed by SIGPIPE, without a message. Python ignores SIGPIPE and raises
    BrokenPipeError instead; setting SIGPIPE back to the default for the whole
    run would also kill it for a socket that closes (multi-worker training)."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(1)  # no SIGPIPE on this system (Windows): fail quietly all the same


def entry_point():
    """`python -m seqlib` and the `seqlib` command: main() with a Unix tool's manners."""
    args = parse_arguments()
    try:
        status = run(args)
        # Flushed here, so a reader that has gone is noticed now, not during exit.
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        die_of_broken_pipe()
    if args.verb in ENDS_WITHOUT_TEARDOWN:
        os._exit(status)
    sys.exit(status)
