"""Key Vault's service limits: per vault, fixed windows, one budget per operation class."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class OpClass(StrEnum):
    CREATE = "create"  # secret set, key create/import, certificate create/import
    KEY_CREATE = "key_create"  # key creates (also count as CREATE)
    OTHER = "other"


@dataclass(frozen=True)
class ThrottleLimits:
    """Per-vault budgets per window (Key Vault: 300 / 20 / 4,000 per 10 s)."""

    window_seconds: float = 10.0
    create: int = 300
    key_create: int = 20
    other: int = 4000


class Throttle:
    """Counts admitted operations in fixed windows; returns a Retry-After when over budget."""

    def __init__(self, limits: ThrottleLimits, clock: Callable[[], float] | None = None) -> None:
        self.limits = limits
        self._clock = clock or time.monotonic
        self._window_start = self._clock()
        self._counts: dict[OpClass, int] = dict.fromkeys(OpClass, 0)

    def admit(self, classes: tuple[OpClass, ...]) -> int | None:
        """Count one request; ``None`` if admitted, else the seconds to put in Retry-After."""
        t = self._clock()
        elapsed = t - self._window_start
        if elapsed >= self.limits.window_seconds:
            self._window_start = t
            self._counts = dict.fromkeys(OpClass, 0)
            elapsed = 0.0
        for c in classes:
            if self._counts[c] >= self._limit(c):
                return max(1, math.ceil(self.limits.window_seconds - elapsed))
        for c in classes:
            self._counts[c] += 1
        return None

    def _limit(self, c: OpClass) -> int:
        return {
            OpClass.CREATE: self.limits.create,
            OpClass.KEY_CREATE: self.limits.key_create,
            OpClass.OTHER: self.limits.other,
        }[c]
