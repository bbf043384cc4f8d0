"""``python -m skytext.search``: the search command line (the code lives in :mod:`skytext.eval.search_cli`)."""

import sys

from skytext.eval.search_cli import main

if __name__ == "__main__":
    sys.exit(main())
