from seqlib.cli import entry_point

entry_point()
