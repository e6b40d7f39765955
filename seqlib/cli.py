"""The command line: python -m seqlib {train,translate,evaluate,export,bench,quiz} ..."""

import argparse
import os
import re
import sys
import tempfile
import warnings

# TensorFlow's native log stays off (set TF_CPP_MIN_LOG_LEVEL=0 to see it): its
# start-up lines about CUDA and oneDNN say nothing a seqlib user can act on, and
# errors that matter reach seqlib as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Lines TensorFlow's libraries print while loading, before its log settings apply.
NATIVE_STARTUP_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )"
)
# Keras warns about things seqlib does on purpose (a tf.data input with shuffle=True,
# repeated datasets ending); users should see seqlib's messages, not these.
warnings.filterwarnings("ignore", category=UserWarning, module="keras")


class UsageError(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the verb (no usage block),
    like every other seqlib error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with standard error captured,
    then passes on every captured line except the native start-up log."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        import tensorflow  # noqa: F401  the user asked to see TensorFlow's log

        return
    try:
        captured = tempfile.TemporaryFile()
    except OSError:  # nowhere to capture to: better noisy than broken
        import tensorflow  # noqa: F401

        return
    # A file, not a pipe: nothing reads a pipe while the import holds the GIL.
    # Should TensorFlow abort the process while loading, its last words are lost.
    sys.stderr.flush()
    saved = os.dup(2)
    with captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA probing logs here, not at import
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", errors="replace").splitlines(keepends=True):
                if not NATIVE_STARTUP_LOG.match(line):
                    sys.stderr.write(line)


BFLOAT16_HELP = (
    "project onto the vocabulary in bfloat16: beam search 15-25%% faster on CPUs with AMX/AVX512-BF16 "
    "(greedy about the same), slower elsewhere; a near tie between two words may go the other way"
)


def build_parser():
    from seqlib.config import PRESETS

    parser = OneLineParser(prog="python -m seqlib", description="Train and use an English→French GRU translator.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    parser.verb_parsers = verbs.choices

    train = verbs.add_parser("train", help="train a model into a run directory (resumes if it exists)")
    train.add_argument("--config", required=True, metavar="PRESET", help=f"preset: {', '.join(PRESETS)}")
    train.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory (created; resumed if it holds a checkpoint)"
    )
    train.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    train.add_argument("--max-pairs", type=positive_int, help="use only the first N pairs of the corpus")
    train.add_argument("--data", metavar="FILE", help="corpus of English<TAB>French lines (default: data/fra.txt.gz)")
    train.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after the epoch that crosses this time")
    train.add_argument(
        "--strategy",
        default="default",
        choices=["default", "mirrored", "multiworker", "tpu"],
        help="tf.distribute strategy (default: one device); the batch size is per replica",
    )

    translate = verbs.add_parser("translate", help="translate sentences (arguments, or standard input one a line)")
    translate.add_argument("--model", required=True, metavar="RUN_DIR")
    translate.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (default: greedy)")
    translate.add_argument("--n-best", type=int, metavar="N", help="print N hypotheses a sentence: INDEX<TAB>SCORE<TAB>TEXT")
    translate.add_argument("--alpha", type=float, default=0.6, help="beam search length penalty exponent (default 0.6)")
    translate.add_argument("--temperature", type=float, metavar="T", help="sample with this temperature instead of searching")
    translate.add_argument("--top-k", type=int, default=0, metavar="K", help="sample only among the K most probable tokens")
    translate.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    translate.add_argument("--max-length", type=positive_int, metavar="L", help="most tokens generated a sentence")
    translate.add_argument("--batch-size", type=positive_int, default=64, help="sentences translated at once (default 64)")
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
    evaluate.add_argument("--alpha", type=float, default=0.6, help="beam search length penalty exponent (default 0.6)")
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
    bench.add_argument("--quick", action="store_true", help="fewer steps (under 2 minutes on 2 CPU cores)")
    bench.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    bench.add_argument("--model", metavar="RUN_DIR", help="measure decoding on this trained run (default: an untrained model)")
    bench.add_argument("--config", default="cpu", metavar="PRESET", help="preset whose model is measured (default cpu)")

    from seqlib import quiz

    quiz.add_parser(verbs)

    export = verbs.add_parser("export", help="write a SavedModel that TensorFlow can serve without seqlib")
    export.add_argument("--model", required=True, metavar="RUN_DIR")
    export.add_argument("--out", required=True, metavar="EXPORT_DIR")
    return parser


def main(argv=None):
    from seqlib.errors import SeqlibError

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Named by the verb's parser, so the message says which verb has no such option.
        parser.verb_parsers[args.verb].error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.verb != "quiz":
        import_tensorflow_quietly()
    try:
        if args.verb == "train":
            return run_train(args)
        if args.verb == "translate":
            return run_translate(args)
        if args.verb == "evaluate":
            return run_evaluate(args)
        if args.verb == "export":
            return run_export(args)
        if args.verb == "quiz":
            from seqlib import quiz

            return quiz.run(args)
        if args.verb == "bench":
            from seqlib.bench import main as bench_main

            bench_main(quick=args.quick, json_file=args.json, model_dir=args.model, preset=args.config)
            return 0
    except (SeqlibError, UsageError) as error:
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
    return 0


def run_train(args):
    from seqlib.config import get_preset
    from seqlib.train import train

    config = get_preset(args.config)
    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if args.max_pairs is not None:
        config = config.replace(max_pairs=args.max_pairs)
    train(
        config,
        args.out,
        data_path=args.data,
        time_budget=args.time_budget,
        verbose=2 if not sys.stderr.isatty() else "auto",
        strategy=args.strategy,
        explicit=("max_pairs",) if args.max_pairs is not None else (),
    )
    print(f"trained model saved in {args.out}", file=sys.stderr)
    return 0


def read_sentences(args):
    """Sentences from arguments or standard input (strict UTF-8, errors name the line)."""
    if args.text:
        return list(args.text)
    if sys.stdin is None:
        return []
    sentences = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"standard input line {number}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
        sentences.append(line.rstrip("\r\n").removeprefix("\ufeff") if number == 1 else line.rstrip("\r\n"))
    return sentences


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
    sentences = read_sentences(args)
    if not sentences:
        raise UsageError("no text to translate: give sentences as arguments or one a line on standard input")
    from seqlib.rundir import load_translator
    from seqlib.serving import translate_sentences

    translator = load_translator(args.model, jit_compile=args.xla, bfloat16_projection=args.bfloat16)
    check_beam_fits(translator, args.beam)
    n_best = args.n_best or 1
    for index, hypotheses in enumerate(
        translate_sentences(
            translator,
            sentences,
            beam_width=args.beam,
            n_best=n_best,
            alpha=args.alpha,
            temperature=args.temperature,
            top_k=args.top_k,
            seed=args.seed,
            max_length=args.max_length,
            batch_size=args.batch_size,
            warn=lambda message: print(f"seqlib translate: warning: {message}", file=sys.stderr),
        )
    ):
        if n_best == 1:
            print(hypotheses[0][0])
        else:
            for text, score in hypotheses:
                print(f"{index}\t{score:.4f}\t{text}")
    sys.stdout.flush()
    return 0


def run_evaluate(args):
    import json

    from seqlib import evaluate

    if args.compare:
        # `--model A --compare B C` compares all three.
        runs = ([args.model] if args.model else []) + args.compare
        table = evaluate.compare_runs(list(dict.fromkeys(runs)))  # each run once, in the order given
        print(table.to_json(orient="records") if args.json else table.to_string(index=False))
        return 0
    if not args.model:
        raise UsageError("give --model RUN_DIR (or --compare RUN_DIR ...)")
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    from seqlib.rundir import load_translator

    translator = load_translator(args.model, bfloat16_projection=args.bfloat16)
    check_beam_fits(translator, args.beam)
    result = evaluate.evaluate_run(
        args.model, args.pairs, beam_width=args.beam, alpha=args.alpha, limit=args.limit, translator=translator
    )
    path = evaluate.save_result(args.model, result)
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
    best, worst = evaluate.best_and_worst(examples)
    import pandas as pd

    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print("\nbest:")
        print(best.to_string(index=False))
        if len(worst):
            print("\nworst:")
            print(worst.to_string(index=False))
    print(f"\nsaved in {path}")
    return 0


def run_export(args):
    from seqlib.export import export

    path = export(args.model, args.out)
    print(f"SavedModel written to {path}", file=sys.stderr)
    return 0


def entry_point():
    """`python -m seqlib` and the `seqlib` command."""
    sys.exit(main())
