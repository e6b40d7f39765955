"""`python -m seqlib train`: train a model into a run directory, or resume it."""

import sys

from seqlib.cli.arguments import UsageError, positive_int
from seqlib.cli.tfimport import load_tensorflow
from seqlib.config import (
    PRESET_NAMES,
    SCHEDULES,
    STRATEGIES,
    TOKENIZERS,
    check_training_limits,
    get_preset,
    setting_from_text,
)
from seqlib.hardware import choose_onednn_for_precision
from seqlib.models.registry import ARCHITECTURES
from seqlib.precision import PRECISIONS
from seqlib.rundir import RunDir
from seqlib.training.notes import say


def add_parser(verbs):
    """Adds the `train` verb to an argparse subparsers object."""
    parser = verbs.add_parser("train", help="train a model into a run directory (resumes if it exists)")
    parser.add_argument("--config", required=True, metavar="PRESET", help=f"preset: {', '.join(PRESET_NAMES)}")
    parser.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        help="model family (default gru); the preset sizes it; saved in the run, which every other verb reads",
    )
    parser.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory (created; resumed if it holds a checkpoint)"
    )
    parser.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        help="tokens the model reads and writes: 'word' (whole words) or 'wordpiece' (subword pieces learned "
        "from the training split); default: the preset's; saved in the run, which every other verb reads",
    )
    parser.add_argument(
        "--vocab-size",
        type=positive_int,
        metavar="N",
        help="tokens in each vocabulary, English and French (default: the preset's)",
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        metavar="EPSILON",
        help="share of each target spread over the whole vocabulary, e.g. 0.1 (default: the preset's)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        metavar="RATE",
        help="Adam's peak learning rate, e.g. 2e-3 (default: the preset's)",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        metavar="RATE",
        help="dropout rate after embeddings, before the output layer and inside transformer blocks (default: the preset's)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="what the layers compute in: 'auto' picks mixed_bfloat16 on CPUs with AMX or AVX512-BF16 and on GPUs "
        "of compute capability 8.0 or more, mixed_float16 on older GPUs (T4), float32 elsewhere, and says so "
        "(default: the preset's; tiny: float32, cpu and gpu: auto); weights, logits and loss stay float32",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one more setting of the preset, e.g. --set batch_size=128, or with --arch transformer --set num_heads=2 "
        "(repeatable; the names are TrainConfig's in seqlib/config.py and the family's in seqlib/models/*_settings.py)",
    )
    parser.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    parser.add_argument("--max-pairs", type=positive_int, help="use only the first N pairs of the corpus")
    parser.add_argument("--data", metavar="FILE", help="corpus of English<TAB>French lines (default: data/fra.txt.gz)")
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop when this much time has passed (the epoch ends there and is checkpointed)",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="budget",
        help="with --time-budget: 'budget' (default) warms the learning rate up, then decays it to 1%% as the "
        "budget runs out; 'constant' keeps the preset's rate",
    )
    parser.add_argument(
        "--strategy",
        default="default",
        choices=STRATEGIES,
        help="tf.distribute strategy (default: one device); the batch size is per replica",
    )
    return parser


def run(args):
    """Trains as the parsed arguments say; returns the exit status."""
    config = get_preset(args.config, args.arch or "gru")
    check_training_limits(args.epochs, args.time_budget)
    if args.label_smoothing is not None and not 0 <= args.label_smoothing < 1:
        raise UsageError(f"--label-smoothing must be at least 0 and below 1, got {args.label_smoothing:g}")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise UsageError(f"--learning-rate must be a positive number, got {args.learning_rate:g}")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must be at least 0 and below 1, got {args.dropout:g}")
    requested = requested_settings(args, config)
    config = config.replace(**requested)
    saved = check_corpus_and_run(args, config)
    # Decided before TensorFlow loads: oneDNN crawls in float16 on AVX-512 CPUs (seqlib/hardware.py).
    if choose_onednn_for_precision(requested.get("precision") or (saved or config).precision) == "0":
        say("note: TensorFlow's oneDNN kernels are off for this float16 training: with them it crawls on AVX-512 CPUs")
    load_tensorflow(collective_ops=args.strategy == "multiworker")
    from seqlib.training.train import train

    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    train(
        config,
        args.out,
        data_path=args.data,
        time_budget=args.time_budget,
        schedule=args.schedule,
        verbose=2 if not sys.stderr.isatty() else "auto",
        strategy=args.strategy,
        explicit=tuple(requested),
    )
    print(f"trained model saved in {args.out}", file=sys.stderr)
    return 0


def requested_settings(args, config):
    """{config field: value} of every setting the command line sets (--epochs aside), its
    `--set NAME=VALUE` ones typed like `config`'s."""
    given = {
        "max_pairs": args.max_pairs,
        "arch": args.arch,
        "tokenizer": args.tokenizer,
        "source_vocab_size": args.vocab_size,
        "target_vocab_size": args.vocab_size,
        "label_smoothing": args.label_smoothing,
        "learning_rate": args.learning_rate,
        "dropout_rate": args.dropout,
        "precision": args.precision,
    }
    given = {name: value for name, value in given.items() if value is not None}
    by_set = {}
    for text in args.set:
        name, value = setting_from_text(config, text)
        if name == "epochs":  # its own option: --epochs is also what a resumed run may change
            raise UsageError(f"--set {text}: give --epochs {value} instead")
        if name in given or name in by_set:
            raise UsageError(f"--set {text}: {name} is given twice (by --set or its own option); give it once")
        by_set[name] = value
    return given | by_set


def check_corpus_and_run(args, config):
    """Refuses a run directory or a corpus that training could not use, before the slow import.

    Returns the TrainConfig of the run to resume, or None for a new run.
    """
    run_dir = RunDir(args.out)
    resuming = run_dir.path.exists() and (not run_dir.path.is_dir() or run_dir.config_file.exists())
    # A file in the way, or a run to resume that this seqlib cannot read, is an error here.
    saved = run_dir.load_config()[0] if resuming else None
    if args.data is None:
        return saved
    from seqlib.data.corpus import check_corpus_file, read_pairs  # pandas, not TensorFlow: quick before the slow import

    if resuming:
        check_corpus_file(args.data)  # a resumed run reads its own corpus
    else:
        # Every line training will read (and the file itself), checked before the slow
        # import: a bad line is an error in about a second, not after TensorFlow's 8.
        read_pairs(args.data, max_pairs=args.max_pairs if args.max_pairs is not None else config.max_pairs)
    return saved
