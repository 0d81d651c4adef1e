"""A constant-factor speed-up of the SDK's history parsing, with identical results.

Every replay rebuilds each history event and parses its timestamp with dateutil's generic
parser (~40 µs each), which dominates long replays. The extension's timestamps are ISO 8601,
which `datetime.fromisoformat` parses (Python 3.11+) to the same instant; timestamps repeat
across replays, so they are cached. Anything else falls back to the SDK's own parser.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from functools import lru_cache

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    # the module shares its name with the class the package exports, so import it by path
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")

    original = module.dt_parse

    @lru_cache(maxsize=65536)
    def parse(text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)
        except (TypeError, ValueError):
            return original(text)

    module.dt_parse = parse
    _installed = True
