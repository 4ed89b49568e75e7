import sys

from catmatch.cli import main

sys.exit(main())
