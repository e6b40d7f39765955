"""The command line: python -m seqlib {train,translate,evaluate,export,bench,quiz} ...

Each verb is a module with `add_parser(verbs)` and `run(args)`; this one builds the
parser from them, dispatches, and turns errors into a Unix tool's messages and
statuses. Every verb checks its arguments, files and run directories before it
imports TensorFlow, which is most of a short command's time (6-8 s on 2 CPU cores):
a mistake is reported at once, as one line `seqlib VERB: error: ...`, status 2.
"""

import os
import signal
import sys
import warnings

from seqlib.cli import bench, evaluate, export, train, translate
from seqlib.cli.parser import PROG, OneLineParser
from seqlib.course import quiz
from seqlib.errors import SeqlibError

# Keras warns about things seqlib does on purpose (a tf.data input with shuffle=True,
# repeated datasets ending); users should see seqlib's messages, not these.
warnings.filterwarnings("ignore", category=UserWarning, module="keras")

# The verbs' modules, in the order --help lists them.
VERBS = (train, translate, evaluate, bench, quiz, export)
# Verbs whose work is complete and flushed when they return end the process
# without the interpreter's teardown of TensorFlow's thousands of modules and
# objects (about 2 s of a one-sentence translate on a 2-core AMD EPYC). Not train or
# bench: they may leave TensorBoard writers and threads to finish, and run long anyway.
ENDS_WITHOUT_TEARDOWN = ("translate", "evaluate", "export")


def build_parser():
    """The parser of every verb; `parser.verb_parsers` maps each verb's name to its own parser."""
    parser = OneLineParser(prog=PROG, description="Train and use an English→French translator (GRU or transformer).")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    parser.verb_parsers = verbs.choices
    for verb in VERBS:
        verb.add_parser(verbs).set_defaults(run=verb.run)
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
        return args.run(args)
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
