"""Injected faults on a seeded schedule, so retry and resume paths can be exercised reproducibly."""

from __future__ import annotations

import random
from collections.abc import Iterable
from enum import StrEnum

# Methods the Azure SDK re-sends after a connection drops mid-response; POST and PATCH are not
# (azure-core retries them only on 500/503/504), so a drop scheduled for them becomes a 503.
_DROP_SAFE = frozenset({"GET", "PUT", "DELETE", "HEAD"})
# Methods that change a vault: a "drop after write" applies them, then loses the answer.
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})


class Fault(StrEnum):
    THROTTLED = "429"
    INTERNAL = "500"
    UNAVAILABLE = "503"
    DROP = "drop"
    # the server applies the write, then drops the connection before answering: the client
    # cannot tell whether it landed (what makes a blind retry create a second version)
    DROP_AFTER_WRITE = "drop_after_write"


# the mix when no kinds are given (unchanged, so a seed's schedule stays what it was)
DEFAULT_KINDS: tuple[Fault, ...] = (Fault.THROTTLED, Fault.INTERNAL, Fault.UNAVAILABLE,
                                    Fault.DROP)


def parse_kinds(kinds: Iterable[str | Fault] | str | None) -> tuple[Fault, ...]:
    """Fault kinds from names (``"429,500,503,drop,drop_after_write"`` or a list); None: the
    default mix. ValueError naming the known kinds for an unknown or empty one."""
    if kinds is None:
        return DEFAULT_KINDS
    items = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    chosen: list[Fault] = []
    for item in items:
        text = str(item).strip()
        try:
            fault = Fault(text)
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault kind {text!r}; known: {known}") from None
        if fault not in chosen:
            chosen.append(fault)
    if not chosen:
        raise ValueError("give at least one fault kind")
    return tuple(chosen)


class FaultSchedule:
    """Decides, request by request, whether to inject a fault; deterministic for a seed."""

    def __init__(self, rate: float = 0.0, seed: int = 0,
                 kinds: Iterable[str | Fault] | str | None = None) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self._kinds = list(parse_kinds(kinds))
        self._injected: list[_Injected] = []

    @property
    def kinds(self) -> tuple[Fault, ...]:
        return tuple(self._kinds)

    def set_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self.rate = rate

    def set_kinds(self, kinds: Iterable[str | Fault] | str | None) -> None:
        self._kinds = list(parse_kinds(kinds))

    def inject(self, kind: str | Fault, *, count: int = 1, method: str | None = None,
               path: str | None = None) -> None:
        """Give the next ``count`` requests that match (``method``, a ``path`` substring,
        and for ``drop_after_write`` a write method) the fault ``kind``, whatever the rate."""
        [fault] = parse_kinds([kind])
        if count < 1:
            raise ValueError("count must be at least 1")
        self._injected.append(_Injected(fault, count, method.upper() if method else None,
                                        path.lower() if path else None))

    def _take_injected(self, method: str, path: str) -> Fault | None:
        for injected in self._injected:
            if injected.matches(method, path.lower()):
                injected.count -= 1
                if injected.count == 0:
                    self._injected.remove(injected)
                return injected.fault
        return None

    def next(self, method: str, path: str = "") -> Fault | None:
        if self._injected:
            injected = self._take_injected(method, path)
            if injected is not None:
                return injected
        if self.rate <= 0.0:
            return None
        if self._rng.random() >= self.rate:
            return None
        fault = self._rng.choice(self._kinds)
        if fault is Fault.DROP_AFTER_WRITE and method not in WRITE_METHODS:
            fault = Fault.DROP  # a read changes nothing: losing its answer is a plain drop
        if fault is Fault.DROP and method not in _DROP_SAFE:
            return Fault.UNAVAILABLE
        return fault


class _Injected:
    def __init__(self, fault: Fault, count: int, method: str | None, path: str | None) -> None:
        self.fault, self.count, self.method, self.path = fault, count, method, path

    def matches(self, method: str, path: str) -> bool:
        if self.fault is Fault.DROP_AFTER_WRITE and method not in WRITE_METHODS:
            return False
        return ((self.method is None or self.method == method)
                and (self.path is None or self.path in path))
