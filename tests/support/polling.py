"""Polling helpers shared by the engine tests (no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.01,
               tick: Callable[[], object] | None = None) -> T:
    """Return probe()'s first truthy value; call tick() between tries (e.g. advance a clock)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        if tick is not None:
            tick()
        time.sleep(interval)
