"""Request counters by operation and status: how tests and benchmarks count data-plane calls."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, dict[int, int]] = {}
        self._faults: dict[str, int] = {}
        self._since = dt.datetime.now(dt.UTC)

    def count(self, op: str, status: int) -> None:
        with self._lock:
            by_status = self._ops.get(op)
            if by_status is None:
                by_status = self._ops[op] = {}
            by_status[status] = by_status.get(status, 0) + 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def reset(self) -> None:
        with self._lock:
            self._ops = {}
            self._faults = {}
            self._since = dt.datetime.now(dt.UTC)

    def snapshot(self) -> dict[str, Any]:
        """``{"since", "total", "operations": {op: {status: n}}, "faults": {kind: n}}``."""
        with self._lock:
            ops = {op: {str(s): n for s, n in by.items()} for op, by in self._ops.items()}
            total = sum(n for by in self._ops.values() for n in by.values())
            return {
                "since": self._since.isoformat(),
                "total": total,
                "operations": ops,
                "faults": dict(self._faults),
            }
