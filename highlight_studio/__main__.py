"""``python -m highlight_studio`` runs the console script."""

import sys

from .cli import main

sys.exit(main())
