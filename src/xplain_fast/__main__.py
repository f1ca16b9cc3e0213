"""``python -m xplain_fast``: the same command line as ``xplain-fast``."""

import sys

from .cli import main

sys.exit(main())
