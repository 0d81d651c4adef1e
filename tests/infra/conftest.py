"""Fixtures for the infrastructure policy tests (helpers live in bicep_model.py)."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
