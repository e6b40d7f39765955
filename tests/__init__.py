"""seqlib's tests: a package, so that `from tests.helpers import ...` finds this folder's helpers.py first."""
