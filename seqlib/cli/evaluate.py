"""`python -m seqlib evaluate`: BLEU and chrF of a run, or a table comparing runs' saved evaluations."""

import json

from seqlib.cli.arguments import ALPHA_HELP, BFLOAT16_HELP, UsageError, check_beam_fits, positive_int
from seqlib.cli.tfimport import load_tensorflow
from seqlib.conventions import DEFAULT_ALPHA
from seqlib.rundir import RunDir


def add_parser(verbs):
    """Adds the `evaluate` verb to an argparse subparsers object."""
    parser = verbs.add_parser("evaluate", help="BLEU and chrF (sacreBLEU) of a run on its test split or a pairs file")
    parser.add_argument("--model", metavar="RUN_DIR", help="run directory to evaluate")
    parser.add_argument("--pairs", metavar="FILE", help="English<TAB>French file; lines sharing a source are its references")
    parser.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (default: greedy)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help=ALPHA_HELP)
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N distinct sources")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    parser.add_argument(
        "--compare", nargs="+", metavar="RUN_DIR", help="print a table of the saved evaluations of these runs (and --model's)"
    )
    return parser


def run(args):
    """Evaluates, or compares, as the parsed arguments say; returns the exit status."""
    if args.compare:
        return compare(args)
    if not args.model:
        raise UsageError("give --model RUN_DIR (or --compare RUN_DIR ...)")
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    run_dir = RunDir(args.model)
    run_dir.check_trained()
    if args.pairs:
        from seqlib.data.corpus import read_pairs  # pandas, not TensorFlow: quick before the slow import

        read_pairs(args.pairs)  # a bad line is an error before the slow import
    else:
        run_dir.require(run_dir.test_pairs)
    load_tensorflow()
    from seqlib.decoding.loading import load_translator
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
    print_summary(result, *scores.best_and_worst(examples))
    print(f"\nsaved in {path}")
    return 0


def compare(args):
    """Prints the table of the runs' saved evaluations: `--model A --compare B C` compares all three."""
    runs = list(dict.fromkeys(([args.model] if args.model else []) + args.compare))  # each run once, in order
    for run_dir in runs:
        RunDir(run_dir).load_config()
    load_tensorflow()  # seqlib.evaluation.scores imports it
    from seqlib.evaluation import scores

    table = scores.compare_runs(runs)
    print(table.to_json(orient="records") if args.json else table.to_string(index=False))
    return 0


def print_summary(result, best, worst):
    """Prints the scores, how they were computed, and the best and worst translations (DataFrames)."""
    import pandas as pd  # loaded already, by seqlib.evaluation.scores

    print(
        f"BLEU {result['bleu']:.2f}  chrF {result['chrf']:.2f}  (lower-cased, accents stripped: BLEU {result['bleu_folded']:.2f})"
    )
    print(
        f"{result['n']} distinct sources from {result['pairs']}, {result['decoding']} decoding (beam {result['beam_width']}), {result['sentences_per_s']} sentences/s"
    )
    by_length = "  ".join(f"{label} {row['bleu']:.1f} ({row['sentences']})" for label, row in result["by_length"].items())
    print(f"BLEU by source length (sentences): {by_length}")
    print(f"sacreBLEU: {result['bleu_signature']}")
    print(f"           {result['chrf_signature']}")
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print("\nbest:")
        print(best.to_string(index=False))
        if len(worst):
            print("\nworst:")
            print(worst.to_string(index=False))
