"""`python -m seqlib bench`: training and decoding speed on this machine, beside the tutorial's model."""

from seqlib.cli.arguments import UsageError
from seqlib.cli.tfimport import load_tensorflow
from seqlib.config import get_preset
from seqlib.rundir import RunDir

DEFAULT_CURVE_FILE = "quality_per_minute.json"


def add_parser(verbs):
    """Adds the `bench` verb to an argparse subparsers object."""
    parser = verbs.add_parser(
        "bench",
        help="measure training and decoding speed on this machine",
        description="Training and decoding speed, side by side in one run: tokens/s, sentences/s, "
        "first-call time, peak memory, fraction of the measured matmul peak (see bench/README.md).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer variants and repeats, 10 s of training a model (under 3 minutes on 2 CPU cores)",
    )
    parser.add_argument(
        "--train-seconds",
        type=float,
        metavar="S",
        help="seconds each model (seqlib's and the tutorial's) trains (default 10 with --quick, else 60)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (with --curve: the PNG goes beside it)")
    parser.add_argument(
        "--curve",
        type=float,
        metavar="MINUTES",
        help="quality per minute instead: the preset's model and the tutorial's each train MINUTES on the same split, "
        "scored greedy on the same test sentences every --every minutes; prints the time each needs to reach the "
        f"tutorial's final BLEU and writes JSON and PNG (default {DEFAULT_CURVE_FILE})",
    )
    parser.add_argument(
        "--every", type=float, default=2.0, metavar="MINUTES", help="with --curve: minutes between scorings (default 2)"
    )
    parser.add_argument(
        "--with-transformer", action="store_true", help="with --curve: also the preset's transformer, trained as long"
    )
    parser.add_argument(
        "--model", metavar="RUN_DIR", help="measure decoding on this trained run (default: the model the bench trains)"
    )
    parser.add_argument(
        "--transformer-model",
        metavar="RUN_DIR",
        help="measure the transformer's decoding on this trained run (default: the transformer the bench trains)",
    )
    parser.add_argument("--config", default="cpu", metavar="PRESET", help="preset whose models are measured (default cpu)")
    return parser


def run(args):
    """Runs the bench as the parsed arguments say; returns the exit status."""
    get_preset(args.config)
    if args.curve is not None:
        return run_curve(args)
    if args.with_transformer:
        raise UsageError("--with-transformer goes with --curve (the speed bench measures the transformer anyway)")
    if args.train_seconds is not None and not args.train_seconds > 0:
        raise UsageError(f"--train-seconds must be a positive number of seconds, got {args.train_seconds:g}")
    for run_dir, arch in ((args.model, None), (args.transformer_model, "transformer")):
        if run_dir:
            config = RunDir(run_dir).check_trained()
            if arch and config.arch != arch:
                raise UsageError(f"--transformer-model {run_dir} is a {config.arch} run, not a transformer")
    load_tensorflow()
    from seqlib.bench.main import main

    main(
        quick=args.quick,
        json_file=args.json,
        model_dir=args.model,
        preset=args.config,
        train_seconds=args.train_seconds,
        transformer_dir=args.transformer_model,
    )
    return 0


def run_curve(args):
    """`bench --curve MINUTES`: quality per minute (seqlib.bench.curve)."""
    for flag, value in (("--curve", args.curve), ("--every", args.every)):
        if not value > 0:
            raise UsageError(f"{flag} must be a positive number of minutes, got {value:g}")
    if args.quick or args.model or args.transformer_model or args.train_seconds is not None:
        raise UsageError(
            "--curve trains its own models for MINUTES each: drop --quick, --model, --transformer-model and --train-seconds"
        )
    load_tensorflow()
    from seqlib.bench.curve import main

    main(args.curve, args.json or DEFAULT_CURVE_FILE, args.every, args.config, args.with_transformer)
    return 0
