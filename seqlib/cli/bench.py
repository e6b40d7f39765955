"""`python -m seqlib bench`: training and decoding speed on this machine, beside the tutorial's model."""

from seqlib.cli.arguments import UsageError
from seqlib.cli.tfimport import load_tensorflow
from seqlib.config import get_preset
from seqlib.rundir import RunDir


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
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
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
