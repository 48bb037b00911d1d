"""`python -m streams` is the `touchline` command."""

import sys

from streams.cli import main

sys.exit(main())
