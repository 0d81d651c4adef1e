"""The emulator's clock: one per server, shared by all its vaults.

It runs with the real time, shifted forward by every advance (the admin API's
``POST /_emulator/clock`` or :meth:`EmulatorClock.advance` in-process): time keeps flowing, as
the service's does, because kvdr tells versions apart by their creation second and a frozen
clock would give every write the same one. Whatever acts on time
(near-expiry events, rotation and renewal lifetime actions) registers a :class:`DueSource`;
an advance asks every source for the actions due in ``(now, target]``, runs the earliest one
with ``now`` set to its ``when``, and asks again (an action may create more) until none remain.
Ties are ordered by ``(when, what)``, so an advance is deterministic. Sources are asked from the
advance's starting time each round (so actions due at the same instant all run) and the clock
runs each ``(when, what)`` once per advance; a source should stop answering an action once it
ran (e.g. mark the event sent), so a later advance does not see it again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

# one advance may run at most this many actions (a source that keeps answering the same
# action would otherwise loop forever)
MAX_ACTIONS_PER_ADVANCE = 1_000_000


@dataclass(frozen=True)
class DueAction:
    """Something to do at ``when``; ``what`` names it (and orders ties)."""

    when: datetime
    what: str
    run: Callable[[], None]


class DueSource(Protocol):
    def due(self, after: datetime, until: datetime) -> list[DueAction]:
        """The actions due in ``(after, until]``."""
        ...


# the clock of the emulator whose request (or due action) is running: code that stamps times
# without a handle on its server (``emulator.store.now``) reads it from here
_ACTIVE: ContextVar[EmulatorClock | None] = ContextVar("emulator_clock", default=None)


def active_clock() -> EmulatorClock | None:
    return _ACTIVE.get()


class EmulatorClock:
    """UTC time: the real time plus every advance so far; pinned to an action's ``when`` while
    an advance runs it."""

    def __init__(self, start: datetime | None = None,
                 real: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._real = real
        start = start if start is not None else real()
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        self._offset = start.astimezone(UTC) - real()
        self._pinned: datetime | None = None
        self._sources: list[DueSource] = []
        # an action may read now() or register sources; advances are serialized
        self._lock = threading.RLock()

    def now(self) -> datetime:
        pinned = self._pinned
        return pinned if pinned is not None else self._real() + self._offset

    def timestamp(self) -> int:
        """``now`` in whole Unix seconds (Key Vault's attribute timestamps)."""
        return int(self.now().timestamp())

    @contextmanager
    def active(self) -> Iterator[EmulatorClock]:
        """Make this the clock that :func:`active_clock` answers (for a request or an action)."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def register(self, source: DueSource) -> None:
        with self._lock:
            self._sources.append(source)

    def advance(self, seconds: float) -> datetime:
        """Move ``seconds`` (finite, >= 0) forward, running every action due on the way."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("advance_seconds must be a number")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("advance_seconds must be a finite number >= 0")
        with self._lock, self.active():
            start = self.now()
            target = start + timedelta(seconds=seconds)
            ran: set[tuple[datetime, str]] = set()
            self._pinned = start
            try:
                for _ in range(MAX_ACTIONS_PER_ADVANCE):
                    action = self._next_due(start, target, ran)
                    if action is None:
                        break
                    ran.add((action.when, action.what))
                    self._pinned = max(self._pinned, action.when)
                    action.run()
                else:
                    raise RuntimeError("too many due actions in one advance")
            finally:
                # time flows on from the target (the advance's own duration is absorbed)
                self._offset = target - self._real()
                self._pinned = None
            return target

    def _next_due(
        self, start: datetime, target: datetime, ran: set[tuple[datetime, str]]
    ) -> DueAction | None:
        # sources are asked from the advance's start, not from the last action's time, so
        # two actions due at the same instant both run; ``ran`` keeps each to one run
        found = [
            action
            for source in list(self._sources)
            for action in source.due(start, target)
            if (action.when, action.what) not in ran
        ]
        if not found:
            return None
        return min(found, key=lambda a: (a.when, a.what))


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (as Key Vault and Event Grid write times)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
