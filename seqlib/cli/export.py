"""`python -m seqlib export`: a trained run as a SavedModel that TensorFlow serves without seqlib."""

import sys

from seqlib.cli.tfimport import load_tensorflow
from seqlib.files import check_new_directory
from seqlib.rundir import RunDir


def add_parser(verbs):
    """Adds the `export` verb to an argparse subparsers object."""
    parser = verbs.add_parser("export", help="write a SavedModel that TensorFlow can serve without seqlib")
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory of a trained model")
    parser.add_argument("--out", required=True, metavar="EXPORT_DIR", help="directory to write (new, or empty)")
    return parser


def run(args):
    """Exports as the parsed arguments say; returns the exit status."""
    RunDir(args.model).check_trained()
    check_new_directory(args.out)  # both checked before the slow TensorFlow import
    load_tensorflow(for_serving=True)
    from seqlib.decoding.export import export

    path = export(args.model, args.out)
    print(f"SavedModel written to {path}", file=sys.stderr)
    return 0
