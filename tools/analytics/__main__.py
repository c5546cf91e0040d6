"""`python -m tools.analytics evaluate|bias-report ...`: the methods on a synthetic city."""

import sys

from tools.analytics.cli import main

sys.exit(main())
