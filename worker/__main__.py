"""``python -m worker``: the worker image's entry point (see :mod:`worker.main`)."""

import sys

from worker.main import main

if __name__ == "__main__":
    sys.exit(main())
