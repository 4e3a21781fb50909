"""``python -m loadtest.cli ...``: the same as the ``loadtest`` command (used to start child processes)."""

import sys

from loadtest.cli import main

sys.exit(main())
