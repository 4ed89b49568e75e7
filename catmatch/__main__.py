import sys

from catmatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
