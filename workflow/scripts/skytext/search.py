"""``python -m skytext.search``: the search command line (the code lives in :mod:`skytext.eval.search`)."""

from skytext.eval.search import main

if __name__ == "__main__":
    main()
