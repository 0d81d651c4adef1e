"""``python -m kvdr_cli``: the `kvdr` command line."""

import sys

from kvdr_cli.main import main

sys.exit(main())
