"""``python -m skytext.search``: the search command line (the code lives in :mod:`skytext.eval.search`)."""

import sys

from skytext.eval.search import main

if __name__ == "__main__":
    sys.exit(main())
