import sys

from seqlib.cli import main

sys.exit(main())
