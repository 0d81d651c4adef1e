"""What crosses the Durable boundary for the rotation scan: the request the full sync's
orchestrator sends (names and numbers only) and the envelope the activity returns (counts, item
names, error codes; never a value)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 50  # item names listed in a result (the counts are complete)


@dataclass(frozen=True)
class ScanRequest:
    """``now`` is the orchestrator's replay-safe time (ISO 8601): what "within 30 days" is
    measured from."""

    run_id: str
    primary: str
    epoch: int
    now: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "primary": self.primary, "epoch": self.epoch,
                "now": self.now}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanRequest:
        return cls(str(data["run_id"]), str(data["primary"]), int(data["epoch"]),
                   str(data["now"]))


@dataclass(frozen=True)
class ScanResult:
    """``skipped`` says why nothing was looked at (publishing off, not the primary's app, the
    primary changed); ``due`` counts the items due, ``published`` those announced now,
    ``announced`` those announced before, ``repaired`` marker copies written to other vaults."""

    ok: bool = True
    skipped: str | None = None
    primary: str | None = None
    epoch: int = 0
    due: int = 0
    published: int = 0
    announced: int = 0
    repaired: int = 0
    published_items: tuple[str, ...] = ()
    failures: tuple[Mapping[str, str], ...] = ()
    error: Mapping[str, str] | None = None
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "due": self.due, "published": self.published,
                                "announced": self.announced, "repaired": self.repaired,
                                "epoch": self.epoch, "calls": dict(self.calls)}
        for key in ("skipped", "primary"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.published_items:
            data["published_items"] = list(self.published_items)
        if self.failures:
            data["failures"] = [dict(f) for f in self.failures]
        if self.error is not None:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanResult:
        return cls(ok=bool(data.get("ok", True)), skipped=data.get("skipped"),
                   primary=data.get("primary"), epoch=int(data.get("epoch", 0)),
                   due=int(data.get("due", 0)), published=int(data.get("published", 0)),
                   announced=int(data.get("announced", 0)),
                   repaired=int(data.get("repaired", 0)),
                   published_items=tuple(data.get("published_items", ())),
                   failures=tuple(dict(f) for f in data.get("failures", ())),
                   error=data.get("error"), calls=dict(data.get("calls", {})))
