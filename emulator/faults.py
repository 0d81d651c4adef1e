"""Injected faults on a seeded schedule, so retry and resume paths can be exercised reproducibly."""

from __future__ import annotations

import random
from enum import StrEnum

# Methods the Azure SDK re-sends after a connection drops mid-response; POST and PATCH are not
# (azure-core retries them only on 500/503/504), so a drop scheduled for them becomes a 503.
_DROP_SAFE = frozenset({"GET", "PUT", "DELETE", "HEAD"})


class Fault(StrEnum):
    THROTTLED = "429"
    INTERNAL = "500"
    UNAVAILABLE = "503"
    DROP = "drop"


class FaultSchedule:
    """Decides, request by request, whether to inject a fault; deterministic for a seed."""

    def __init__(self, rate: float = 0.0, seed: int = 0) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self._kinds = list(Fault)

    def set_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self.rate = rate

    def next(self, method: str) -> Fault | None:
        if self.rate <= 0.0:
            return None
        if self._rng.random() >= self.rate:
            return None
        fault = self._rng.choice(self._kinds)
        if fault is Fault.DROP and method not in _DROP_SAFE:
            return Fault.UNAVAILABLE
        return fault
