"""Vault state: versioned objects, soft-deleted objects, change observers and persistence.

All objects are plain JSON-able data so that persistence is a journal of whole-object
records. One :class:`VaultStore` per vault; its lock guards every read-modify-write, so the
in-process handle may inspect a vault from another thread while the server runs.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from emulator.clock import active_clock

# the last two are vault-level certificate settings (emulator/certificate_admin.py)
KINDS = ("secrets", "keys", "certificates", "certificate-issuers", "certificate-contacts")
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90

# called with (vault name, object kind, object name, version) for every stored new version
Observer = Callable[[str, str, str, str], None]


def new_version() -> str:
    return _random.token_hex(16)


def now() -> int:
    """Unix seconds by the emulator's clock (the active one: see emulator/clock.py), or the
    real time outside a request."""
    clock = active_clock()
    return clock.timestamp() if clock is not None else int(time.time())


@dataclass
class Version:
    """One version of a secret, key or certificate."""

    version: str
    attributes: dict[str, Any]
    tags: dict[str, str]
    # kind-specific content: secrets {value, contentType, managed, kid};
    # keys {jwk (private), managed}; certificates {cer, ...}
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "attributes": self.attributes,
            "tags": self.tags,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Version:
        return cls(d["version"], d["attributes"], d["tags"], d["data"])


@dataclass
class Item:
    """A named object: its versions in creation order (latest last) and per-name extras."""

    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    latest: str = ""
    # certificates keep {"policy": …, "pending": …} here
    extra: dict[str, Any] = field(default_factory=dict)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    def add(self, version: Version) -> None:
        self.versions[version.version] = version
        self.latest = version.version

    def get(self, version: str = "") -> Version | None:
        if not version:
            return self.versions.get(self.latest)
        return self.versions.get(version.lower())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [v.to_dict() for v in self.versions.values()],
            "latest": self.latest,
            "extra": self.extra,
            "deleted_date": self.deleted_date,
            "scheduled_purge_date": self.scheduled_purge_date,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        item = cls(
            d["name"],
            extra=d.get("extra", {}),
            deleted_date=d.get("deleted_date"),
            scheduled_purge_date=d.get("scheduled_purge_date"),
        )
        for v in d["versions"]:
            item.versions[v["version"]] = Version.from_dict(v)
        item.latest = d["latest"]
        return item


class VaultStore:
    """The contents of one vault. Names are case-insensitive, as in Key Vault."""

    def __init__(self, name: str, geography: str, journal: Path | None = None) -> None:
        self.name = name
        self.geography = geography
        self.lock = threading.RLock()
        self.live: dict[str, dict[str, Item]] = {k: {} for k in KINDS}
        self.deleted: dict[str, dict[str, Item]] = {k: {} for k in KINDS}
        self.observers: list[Observer] = []
        # list operations page through a sorted view; sorting a large vault for every page of
        # 25 made listing quadratic. The view is rebuilt when membership may have changed:
        # every mutation bumps the generation (and a size change catches direct seeding).
        self._generation = 0
        self._sorted: dict[tuple[str, str], tuple[int, int, list[str]]] = {}
        self._journal_path = journal
        self._journal: TextIO | None = None
        if journal is not None:
            self._load(journal)

    # ---- access -------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Item | None:
        return self.live[kind].get(name.lower())

    def get_deleted(self, kind: str, name: str) -> Item | None:
        return self.deleted[kind].get(name.lower())

    def sorted_live(self, kind: str) -> list[Item]:
        return self._sorted_view("live", kind, self.live[kind])

    def sorted_deleted(self, kind: str) -> list[Item]:
        return self._sorted_view("deleted", kind, self.deleted[kind])

    def _sorted_view(self, where: str, kind: str, items: dict[str, Item]) -> list[Item]:
        cached = self._sorted.get((where, kind))
        if cached is None or cached[0] != self._generation or cached[1] != len(items):
            cached = (self._generation, len(items), sorted(items))
            self._sorted[(where, kind)] = cached
        return [items[k] for k in cached[2]]

    @contextmanager
    def locked(self) -> Iterator[VaultStore]:
        with self.lock:
            yield self

    # ---- mutation (callers hold the lock) ------------------------------------------------
    def put(self, kind: str, item: Item, new_version: str | None = None) -> None:
        """Store ``item`` as live; ``new_version`` names a version created by this write."""
        self._generation += 1
        self.live[kind][item.name.lower()] = item
        self._record({"op": "put", "kind": kind, "item": item.to_dict()})
        if new_version is not None:
            for observer in list(self.observers):
                observer(self.name, kind, item.name, new_version)

    def soft_delete(self, kind: str, name: str) -> Item:
        self._generation += 1
        item = self.live[kind].pop(name.lower())
        item.deleted_date = now()
        item.scheduled_purge_date = item.deleted_date + RECOVERABLE_DAYS * 86400
        self.deleted[kind][name.lower()] = item
        self._record({"op": "delete", "kind": kind, "item": item.to_dict()})
        return item

    def recover(self, kind: str, name: str) -> Item:
        self._generation += 1
        item = self.deleted[kind].pop(name.lower())
        item.deleted_date = None
        item.scheduled_purge_date = None
        self.live[kind][name.lower()] = item
        self._record({"op": "put", "kind": kind, "item": item.to_dict()})
        return item

    def purge(self, kind: str, name: str) -> None:
        self._generation += 1
        self.deleted[kind].pop(name.lower())
        self._record({"op": "purge", "kind": kind, "name": name.lower()})

    def remove(self, kind: str, name: str) -> None:
        """Drop a live object without a soft-delete (a cancelled pending certificate)."""
        self._generation += 1
        self.live[kind].pop(name.lower())
        self._record({"op": "remove", "kind": kind, "name": name.lower()})

    # ---- persistence ---------------------------------------------------------------------
    def _record(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            return
        self._journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._journal.flush()

    def _apply(self, entry: dict[str, Any]) -> None:
        self._generation += 1
        kind = entry["kind"]
        if entry["op"] == "purge":
            self.deleted[kind].pop(entry["name"], None)
            return
        if entry["op"] == "remove":
            self.live[kind].pop(entry["name"], None)
            return
        item = Item.from_dict(entry["item"])
        key = item.name.lower()
        if entry["op"] == "put":
            self.deleted[kind].pop(key, None)
            self.live[kind][key] = item
        else:
            self.live[kind].pop(key, None)
            self.deleted[kind][key] = item

    def _load(self, path: Path) -> None:
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn last line after a crash: everything before it stands
                    self._apply(entry)
        self._compact(path)

    def _compact(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for kind in KINDS:
                for item in self.live[kind].values():
                    entry = {"op": "put", "kind": kind, "item": item.to_dict()}
                    f.write(json.dumps(entry, separators=(",", ":")) + "\n")
                for item in self.deleted[kind].values():
                    entry = {"op": "delete", "kind": kind, "item": item.to_dict()}
                    f.write(json.dumps(entry, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
        self._journal = path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
