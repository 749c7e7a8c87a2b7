"""``python -m snnx`` runs the command line (as the ``snnx`` console script does)."""

import sys

from snnx.cli import main

sys.exit(main())
