"""The command line's argument parser: argparse, with seqlib's one-line usage errors."""

import argparse
import difflib
import sys

PROG = "python -m seqlib"


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
