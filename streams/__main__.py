"""`python -m streams` is the `touchline` command."""

import sys

from streams.cli.main import main

sys.exit(main())
