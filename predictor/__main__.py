"""``python -m predictor``: the predictor container's entry point (see ``predictor.server``)."""

import sys

from core.errors import CatmatchError
from predictor.server import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except CatmatchError as exc:
        print(f"predictor: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
