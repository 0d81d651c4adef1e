"""Fixtures of the full-sync tests (see sync_support.py)."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from sync_support import sync_env, sync_env_factory  # noqa: E402,F401
from telemetry_support import events  # noqa: E402,F401
