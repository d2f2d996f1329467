"""``python -m lightmem``: the ``lightmem`` command, for when the console script is not on
PATH (the load test starts its server and worker processes this way)."""

import sys

from lightmem.cli import main

sys.exit(main())
