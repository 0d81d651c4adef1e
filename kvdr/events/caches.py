"""What the event path remembers between events, per process: the topology in force (briefly),
the ids of events already handled, and one lock per item. An :class:`~kvdr.events.handler.
EventHandler` owns one of each; nothing else reaches into them."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from kvdr.events.context import EventRuntime
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import current_topology
from kvdr.vault.inventory import ItemKind, item_key

TOPOLOGY_CACHE_SECONDS = 30.0
SEEN_EVENT_IDS = 4096  # per process: event ids already handled (duplicate delivery)
ITEM_LOCKS = 64


class TopologyCache:
    """The topology record in force, re-read at most every ``ttl`` seconds per process (a
    failover raises the epoch; see :meth:`get` for how a stale answer is avoided)."""

    def __init__(self, ttl: float = TOPOLOGY_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._record: TopologyRecord | None = None
        self._key: int | None = None
        self._read_at = 0.0
        self.reads = 0

    def get(self, runtime: EventRuntime, *, fresh: bool = False) -> TopologyRecord:
        key = id(runtime.config)
        with self._lock:
            if (not fresh and self._record is not None and self._key == key
                    and self._clock() - self._read_at < self.ttl):
                return self._record
        # probe sessions, as every topology read (kvdr.topology.reading): a dead vault costs
        # seconds here, not the full backoff of the cached sessions
        probes = {name: runtime.open_probe(name) for name in runtime.config.region_names}
        try:
            record = current_topology(runtime.config, probes).current
        finally:
            for probe in probes.values():
                probe.close()
        with self._lock:
            self._record, self._key, self._read_at = record, key, self._clock()
            self.reads += 1
        return record

    def clear(self) -> None:
        with self._lock:
            self._record = None


class SeenEvents:
    """Ids of events this process handled to the end (bounded, LRU). A redelivery of one of
    them is a duplicate that needs no vault call at all."""

    def __init__(self, size: int = SEEN_EVENT_IDS) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids

    def add(self, event_id: str) -> None:
        with self._lock:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


class ItemLocks:
    """Events for one item are handled one at a time per process, so that a duplicate
    delivered concurrently with its original finds the copy done (check-then-act). Items share
    a fixed number of locks by hash: bounded memory whatever the vault size."""

    def __init__(self, size: int = ITEM_LOCKS) -> None:
        self._locks = tuple(threading.Lock() for _ in range(size))

    def for_item(self, kind: ItemKind, name: str) -> threading.Lock:
        return self._locks[hash(item_key(kind, name)) % len(self._locks)]
