"""The full-sync fixtures (tests/orchestrators/sync_support.py)."""

import sys
from pathlib import Path

SUPPORT = Path(__file__).parent.parent / "orchestrators"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from sync_support import sync_env, sync_env_factory  # noqa: E402,F401
