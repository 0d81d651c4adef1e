"""Clocks: the real one, and a manual one tests advance so durable timers fire without waiting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def seconds_until(self, when: datetime) -> float:
        """Real seconds to sleep before `when` is due (0 when due; a manual clock says 'never')."""

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever time jumps (a manual clock's advance)."""


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds())

    def subscribe(self, callback: Callable[[], None]) -> None:
        pass  # real time never jumps


class ManualClock:
    """Time stands still until `advance` moves it; timers due by then fire at once."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def seconds_until(self, when: datetime) -> float:
        return 0.0 if when <= self.now() else float("inf")

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            self._now += delta
            now = self._now
        for callback in list(self._callbacks):
            callback()
        return now
