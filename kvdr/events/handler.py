"""The event path: Key Vault change hints from Event Grid, turned into one-item replications.

Event Grid tells kvdr *that* something changed, never *what* it changed to: the data carries
the vault, kind, name and version (``Id, VaultName, ObjectType, ObjectName, Version, NBF,
EXP``), never a value. Deliveries are at-least-once and unordered, so an event is a hint: the
handler re-reads the primary's *latest* state and replicates that
(``kvdr.sync.replicate.sync_item``), and full sync stays the backstop.

:func:`parse_delivery` / :func:`parse_event` accept the Event Grid schema (an array, or one
event) and CloudEvents 1.0, and recognise the subscription validation handshake.
:func:`handle_event` decides, in this order (the first that applies wins):

| step | outcome |
| --- | --- |
| event id already handled by this process | ignored ``duplicate`` (no vault call) |
| vault maps to no configured region | ignored ``unknown-vault`` |
| ``…NearExpiry`` / ``…Expired`` | counted and logged (``near-expiry`` / ``expired``), no copy |
| reserved name (``kvdr-*``) | ignored ``reserved`` |
| vault is not the current primary (topology cached briefly) | ignored ``non-primary`` |
| item gone from the primary | ignored ``deleted`` |
| a certificate's backing key/secret | ignored ``backing-object`` (copied with its certificate) |
| the latest version carries a confirmed kvdr link | ignored ``self-written`` |
| fence: the target's record is newer, the source no longer primary | ignored ``non-primary`` |
| ``sync_item``: every target unchanged | ignored ``duplicate`` (no write); ``stale`` when the |
| | event named another version than the latest (an older one, or one not visible yet) |
| ``sync_item``: some target created/updated | ``replicated`` |
| ``sync_item``: skipped / conflict only | ignored ``not-copied`` |
| ``sync_item``: a target failed, or a vault call raised | ``failed``: raises EventFailed |

The fence costs one read of the target's ``kvdr-topology`` record, only for targets about to be
written to; an event that finds every target in sync reads no record.

A target whose latest version kvdr did not write is drift, refused (``not-copied``) unless
``policies.conflicts`` is ``primary-wins`` — but before refusing, ``sync_item`` lists the
primary's versions of that item (and the target's, when the copy found names an origin id):
when the primary held a confirmed kvdr copy of the target's version and replaced it since
(e.g. written in the target while it was primary, drained back at failback, then rotated), it
is no drift and the event replicates it as a plain update, as full sync does.

A failure raises :class:`EventFailed` so that Event Grid (or the queue) retries the delivery
and finally dead-letters it; everything else returns normally.

Counters go to the state store key ``events/stats.json`` (see :mod:`kvdr.events.stats`).
Nothing here logs or stores a value: outcomes carry names, versions, regions and reasons.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kvdr.errors import KvdrError
from kvdr.vault.inventory import ItemKind, ItemProps, format_time, item_key, parse_time
from kvdr.vault.links import LinkState, is_reserved_name

if TYPE_CHECKING:
    from kvdr.config.schema import Config, Region
    from kvdr.topology.record import TopologyRecord

log = logging.getLogger("kvdr.events.handler")

EVENT_TYPE_PREFIX = "Microsoft.KeyVault."
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
TOPOLOGY_CACHE_SECONDS = 30.0
SEEN_EVENT_IDS = 4096  # per process: event ids already handled (duplicate delivery)


class EventError(KvdrError):
    """A delivery that is not a Key Vault event kvdr can read (code ``event.malformed``)."""

    default_code = "event.malformed"


class EventFailed(KvdrError):
    """Handling failed in a way a retry may fix (code ``event.failed``). Triggers let it
    propagate so that Event Grid / the queue retries and finally dead-letters the event."""

    default_code = "event.failed"


class EventChange(StrEnum):
    NEW_VERSION = "NewVersionCreated"
    NEAR_EXPIRY = "NearExpiry"
    EXPIRED = "Expired"


class EventStatus(StrEnum):
    REPLICATED = "replicated"
    IGNORED = "ignored"
    FAILED = "failed"


class IgnoreReason(StrEnum):
    """Why an event wrote nothing (stable; ``events/stats.json`` counts by these)."""

    UNSUPPORTED = "unsupported-type"
    UNKNOWN_VAULT = "unknown-vault"
    NEAR_EXPIRY = "near-expiry"
    EXPIRED = "expired"
    RESERVED = "reserved"
    NON_PRIMARY = "non-primary"
    DELETED = "deleted"
    BACKING_OBJECT = "backing-object"
    STALE = "stale"
    SELF_WRITTEN = "self-written"
    DUPLICATE = "duplicate"
    NOT_COPIED = "not-copied"
    MALFORMED = "malformed"


_KINDS = {"secret": ItemKind.SECRET, "key": ItemKind.KEY, "certificate": ItemKind.CERTIFICATE}
_TYPE_KIND = {"Secret": ItemKind.SECRET, "Key": ItemKind.KEY, "Certificate": ItemKind.CERTIFICATE}


def event_type_name(kind: ItemKind | str, change: EventChange | str) -> str:
    """``(secret, NewVersionCreated)`` -> ``Microsoft.KeyVault.SecretNewVersionCreated``."""
    return f"{EVENT_TYPE_PREFIX}{str(ItemKind(kind)).capitalize()}{EventChange(change)}"


def split_event_type(event_type: str) -> tuple[ItemKind, EventChange] | None:
    """The kind and change of a Key Vault item event type; None for any other type."""
    if not isinstance(event_type, str) or not event_type.startswith(EVENT_TYPE_PREFIX):
        return None
    rest = event_type[len(EVENT_TYPE_PREFIX):]
    for prefix, kind in _TYPE_KIND.items():
        if rest.startswith(prefix):
            try:
                return kind, EventChange(rest[len(prefix):])
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class VaultEvent:
    """One Key Vault item event, schema-neutral. ``object_id`` is the data's ``Id`` (the
    version's URL); ``not_before``/``expires`` are the data's NBF/EXP (Unix seconds)."""

    id: str
    kind: ItemKind
    change: EventChange
    vault_name: str
    name: str
    version: str
    topic: str = ""
    subject: str = ""
    event_time: datetime | None = None
    object_id: str | None = None
    not_before: int | None = None
    expires: int | None = None

    @property
    def event_type(self) -> str:
        return event_type_name(self.kind, self.change)

    def describe(self) -> str:
        return f"{self.event_type} {self.vault_name}/{self.kind}/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": str(self.kind),
                                "change": str(self.change), "vault_name": self.vault_name,
                                "name": self.name, "version": self.version}
        for key in ("topic", "subject", "object_id", "not_before", "expires"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.event_time is not None:
            data["event_time"] = format_time(self.event_time)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VaultEvent:
        return cls(id=data["id"], kind=ItemKind(data["kind"]), change=EventChange(data["change"]),
                   vault_name=data["vault_name"], name=data["name"], version=data["version"],
                   topic=data.get("topic", ""), subject=data.get("subject", ""),
                   event_time=parse_time(data.get("event_time")),
                   object_id=data.get("object_id"), not_before=data.get("not_before"),
                   expires=data.get("expires"))


@dataclass(frozen=True)
class OtherEvent:
    """An event kvdr does not act on (another type, e.g. ``VaultAccessPolicyChanged``)."""

    id: str
    event_type: str
    reason: IgnoreReason = IgnoreReason.UNSUPPORTED


@dataclass(frozen=True)
class Delivery:
    """What one webhook POST / queue message held. ``validation_code`` is set for the
    subscription validation handshake (answer ``{"validationResponse": code}``)."""

    events: tuple[VaultEvent, ...] = ()
    others: tuple[OtherEvent, ...] = ()
    validation_code: str | None = None


# --- parsing ------------------------------------------------------------------------------------


def decode_body(body: bytes | str) -> Any:
    """A delivery body as JSON. Accepts plain JSON and base64 of JSON (a storage queue message
    written by Event Grid, when the Functions host has not decoded it)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("the delivery is not UTF-8 text; expected an Event Grid event "
                             "(JSON, or base64 of JSON)") from None
    text = body.strip().lstrip("\ufeff")
    if not text:
        raise EventError("the delivery is empty; expected an Event Grid event (JSON)")
    try:
        return _loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return _loads(base64.b64decode(text, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EventError("the delivery is neither JSON nor base64 of JSON; expected an Event "
                         "Grid event (Event Grid schema or CloudEvents 1.0)") from None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # json recurses per nesting level: "[[[[…" must not become a 500
        raise EventError("the delivery's JSON is nested too deeply to be an Event Grid "
                         "event") from None


def parse_delivery(payload: bytes | str | list[Any] | Mapping[str, Any]) -> Delivery:
    """Parse a webhook body or queue message: an Event Grid schema array (or one event), or a
    CloudEvents 1.0 event (or batch). Raises :class:`EventError` for anything else."""
    if isinstance(payload, bytes | str):
        payload = decode_body(payload)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise EventError("the delivery holds no events (an empty array)")
    events: list[VaultEvent] = []
    others: list[OtherEvent] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            raise EventError(f"expected an event object, got {type(raw).__name__}")
        if _type_of(raw) == VALIDATION_EVENT_TYPE:
            data = raw.get("data")
            code = data.get("validationCode") if isinstance(data, Mapping) else None
            if not isinstance(code, str) or not code:
                raise EventError("subscription validation event without data.validationCode")
            return Delivery(validation_code=code)
        parsed = parse_event(raw)
        (events if isinstance(parsed, VaultEvent) else others).append(parsed)
    return Delivery(tuple(events), tuple(others))


def _type_of(raw: Mapping[str, Any]) -> Any:
    return raw.get("type") if "specversion" in raw else raw.get("eventType")


def parse_event(raw: Mapping[str, Any]) -> VaultEvent | OtherEvent:
    """One event in the Event Grid schema or CloudEvents 1.0. Key Vault item events become a
    :class:`VaultEvent`; other well-formed events an :class:`OtherEvent`; anything malformed
    raises :class:`EventError` naming the field."""
    if not isinstance(raw, Mapping):
        raise EventError(f"expected an event object, got {type(raw).__name__}")
    cloud = "specversion" in raw
    if cloud and str(raw.get("specversion")) != "1.0":
        raise EventError(f"CloudEvents specversion {raw.get('specversion')!r} is not supported "
                         "(expected 1.0)")
    type_field, time_field, topic_field = (("type", "time", "source") if cloud
                                           else ("eventType", "eventTime", "topic"))
    event_id = raw.get("id")
    event_type = raw.get(type_field)
    if not isinstance(event_id, str) or not event_id:
        raise EventError(f"event without an id (field 'id'); got keys {sorted(raw)}")
    if not isinstance(event_type, str) or not event_type:
        raise EventError(f"event {event_id}: no event type (field {type_field!r})")
    split = split_event_type(event_type)
    if split is None:
        return OtherEvent(event_id, event_type)
    kind, change = split
    data = raw.get("data")
    if isinstance(data, str):  # some transports double-encode data
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, Mapping):
        raise EventError(f"event {event_id} ({event_type}): 'data' must be an object with "
                         "VaultName, ObjectType, ObjectName and Version")
    data = {str(k).lower(): v for k, v in data.items()}  # Key Vault's casing is not stable
    name = data.get("objectname") or raw.get("subject")
    version = data.get("version")
    vault_name = data.get("vaultname") or _vault_from_resource_id(raw.get(topic_field))
    for what, value in (("ObjectName", name), ("Version", version), ("VaultName", vault_name)):
        if not isinstance(value, str) or not value:
            raise EventError(f"event {event_id} ({event_type}): data.{what} is missing")
    object_type = data.get("objecttype")
    if isinstance(object_type, str) and _KINDS.get(object_type.lower()) not in (None, kind):
        raise EventError(f"event {event_id}: ObjectType {object_type!r} contradicts "
                         f"event type {event_type}")
    return VaultEvent(
        id=event_id, kind=kind, change=change, vault_name=vault_name, name=name,
        version=version, topic=str(raw.get(topic_field) or ""),
        subject=str(raw.get("subject") or ""), event_time=_time(raw.get(time_field), event_id),
        object_id=data.get("id") if isinstance(data.get("id"), str) else None,
        not_before=_epoch(data.get("nbf")), expires=_epoch(data.get("exp")))


def _time(value: Any, event_id: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        text = str(value)
        # Event Grid writes 7 fractional digits; fromisoformat takes at most 6
        head, dot, frac = text.partition(".")
        if dot:
            digits = "".join(c for c in frac if c.isdigit())
            text = f"{head}.{digits[:6]}{frac[len(digits):]}"
        return parse_time(text)
    except (ValueError, OverflowError):  # OverflowError: a year-1/9999 time with an offset
        raise EventError(f"event {event_id}: event time {value!r} is not ISO 8601") from None


def _epoch(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 (infinity)
        return None


def _vault_from_resource_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = value.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "vaults" in lowered:
        i = lowered.index("vaults")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


# --- vault -> region ----------------------------------------------------------------------------


def region_for_event(config: Config, event: VaultEvent) -> Region | None:
    """The configured region whose vault sent ``event``: by VaultName (the vault's name in its
    resource id), then the topic's resource id, then the host of the object ``Id`` URL."""
    names = {r.vault_name.lower(): r for r in config.regions}
    found = names.get(event.vault_name.lower())
    if found is not None:
        return found
    for region in config.regions:
        if event.topic and event.topic.strip("/").lower() == region.resource_id.strip(
                "/").lower():
            return region
    if event.object_id:
        netloc = urlsplit(event.object_id).netloc.lower()
        for region in config.regions:
            if netloc and urlsplit(region.vault_url).netloc.lower() == netloc:
                return region
    return None


# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventOutcome:
    """What handling one event did. ``targets`` maps a target region to what happened there
    (a plan action, or ``failed``). Never carries a value."""

    event_id: str
    event_type: str
    status: EventStatus
    reason: IgnoreReason | None = None
    vault: str = ""
    region: str | None = None
    name: str = ""
    version: str = ""
    targets: Mapping[str, str] = field(default_factory=dict)
    error: Mapping[str, str] | None = None
    event_time: datetime | None = None
    processed_at: datetime | None = None
    seconds: float = 0.0  # handler time (what kvdr added)

    @property
    def wrote(self) -> bool:
        return self.status == EventStatus.REPLICATED

    @property
    def lag_seconds(self) -> float | None:
        if self.event_time is None or self.processed_at is None:
            return None
        return max(0.0, (self.processed_at - self.event_time).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event_id": self.event_id, "event_type": self.event_type,
                                "status": str(self.status), "vault": self.vault,
                                "name": self.name, "version": self.version,
                                "seconds": round(self.seconds, 6)}
        if self.reason is not None:
            data["reason"] = str(self.reason)
        if self.region is not None:
            data["region"] = self.region
        if self.targets:
            data["targets"] = dict(self.targets)
        if self.error is not None:
            data["error"] = dict(self.error)
        if self.event_time is not None:
            data["event_time"] = format_time(self.event_time)
        if self.processed_at is not None:
            data["processed_at"] = format_time(self.processed_at)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventOutcome:
        return cls(event_id=data["event_id"], event_type=data["event_type"],
                   status=EventStatus(data["status"]),
                   reason=IgnoreReason(data["reason"]) if data.get("reason") else None,
                   vault=data.get("vault", ""), region=data.get("region"),
                   name=data.get("name", ""), version=data.get("version", ""),
                   targets=dict(data.get("targets", {})), error=data.get("error"),
                   event_time=parse_time(data.get("event_time")),
                   processed_at=parse_time(data.get("processed_at")),
                   seconds=data.get("seconds", 0.0))


# --- per-process caches -------------------------------------------------------------------------


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

    def get(self, runtime: Any, *, fresh: bool = False) -> TopologyRecord:
        from kvdr.topology.store import current_topology

        key = id(runtime.config)
        with self._lock:
            if (not fresh and self._record is not None and self._key == key
                    and self._clock() - self._read_at < self.ttl):
                return self._record
        sessions = {name: runtime.session(name) for name in runtime.config.region_names}
        record = current_topology(runtime.config, sessions).current
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


TOPOLOGY = TopologyCache()
SEEN = SeenEvents()


def reset_caches() -> None:
    """Forget the cached topology and handled event ids (tests; after a failover)."""
    TOPOLOGY.clear()
    SEEN.clear()


# --- handling -----------------------------------------------------------------------------------


_NOT_COPIED_ACTIONS = {"skip", "conflict", "target_only", "blocked"}
_WRITE_ACTIONS = {"create", "update_value", "update_attributes", "delete_candidate"}


def handle_event(runtime: Any, event: VaultEvent, *, record_stats: bool = True,
                 now: Callable[[], datetime] | None = None) -> EventOutcome:
    """Handle one Key Vault event (see the module docstring for the decision order). Returns
    the outcome for events that end normally (replicated or ignored); raises
    :class:`EventFailed` when a retry may help (a vault call failed, a target failed)."""
    clock = now or (lambda: datetime.now(UTC))
    started = time.perf_counter()
    if record_stats:
        _stats(runtime, "begin", None)
    try:
        outcome = _decide(runtime, event)
    except Exception as exc:
        error = exc.to_dict() if isinstance(exc, KvdrError) else {
            "code": "event.failed", "message": f"{type(exc).__name__} while handling the event"}
        outcome = _outcome(event, EventStatus.FAILED, error=error, now=clock(),
                           started=started)
        _log(outcome)
        if record_stats:
            _stats(runtime, "end", outcome)
        if isinstance(exc, EventFailed):
            raise
        raise EventFailed(f"{event.describe()}: {error['message']} (Event Grid retries it)",
                          code=error.get("code") or "event.failed") from exc
    outcome = outcome(clock(), started)
    _log(outcome)
    if record_stats:
        _stats(runtime, "end", outcome)
    if outcome.status == EventStatus.FAILED:
        raise EventFailed(f"{event.describe()}: replication failed for "
                          f"{', '.join(r for r, a in outcome.targets.items() if a == 'failed')}"
                          " (Event Grid retries it)")
    SEEN.add(event.id)
    return outcome


def handle_payload(runtime: Any, payload: bytes | str | list[Any] | Mapping[str, Any]
                   ) -> list[EventOutcome]:
    """Parse a delivery and handle every event in it (others are counted as ignored). A
    validation handshake is not handled here (the host answers it)."""
    try:
        delivery = parse_delivery(payload)
    except EventError:
        _stats(runtime, "begin", None)
        _stats(runtime, "end", EventOutcome(event_id="", event_type="", reason=IgnoreReason.
                                            MALFORMED, status=EventStatus.IGNORED,
                                            processed_at=datetime.now(UTC)))
        raise
    outcomes = []
    for other in delivery.others:
        outcome = EventOutcome(event_id=other.id, event_type=other.event_type,
                               status=EventStatus.IGNORED, reason=other.reason,
                               processed_at=datetime.now(UTC))
        _log(outcome)
        _stats(runtime, "begin", None)
        _stats(runtime, "end", outcome)
        outcomes.append(outcome)
    outcomes += [handle_event(runtime, event) for event in delivery.events]
    return outcomes


_Pending = Callable[[datetime, float], EventOutcome]


def _outcome(event: VaultEvent, status: EventStatus, *, reason: IgnoreReason | None = None,
             region: str | None = None, targets: Mapping[str, str] | None = None,
             error: Mapping[str, str] | None = None, now: datetime, started: float
             ) -> EventOutcome:
    return EventOutcome(event_id=event.id, event_type=event.event_type, status=status,
                        reason=reason, vault=event.vault_name, region=region, name=event.name,
                        version=event.version, targets=dict(targets or {}), error=error,
                        event_time=event.event_time, processed_at=now,
                        seconds=time.perf_counter() - started)


def _pending(event: VaultEvent, status: EventStatus, **kwargs: Any) -> _Pending:
    return lambda now, started: _outcome(event, status, now=now, started=started, **kwargs)


def _decide(runtime: Any, event: VaultEvent) -> _Pending:
    ignored = EventStatus.IGNORED
    if event.id in SEEN:
        return _pending(event, ignored, reason=IgnoreReason.DUPLICATE)
    config = runtime.config
    region = region_for_event(config, event)
    if region is None:
        return _pending(event, ignored, reason=IgnoreReason.UNKNOWN_VAULT)
    where = {"region": region.name}
    if event.change != EventChange.NEW_VERSION:
        reason = (IgnoreReason.NEAR_EXPIRY if event.change == EventChange.NEAR_EXPIRY
                  else IgnoreReason.EXPIRED)
        return _pending(event, ignored, reason=reason, **where)
    if is_reserved_name(event.name):
        return _pending(event, ignored, reason=IgnoreReason.RESERVED, **where)

    topology = TOPOLOGY.get(runtime)
    if topology.primary != region.name:
        # a failover/failback may have happened since the cached read: check once, fresh
        topology = TOPOLOGY.get(runtime, fresh=True)
        if topology.primary != region.name:
            return _pending(event, ignored, reason=IgnoreReason.NON_PRIMARY, **where)

    with _item_lock(event.kind, event.name):
        return _replicate(runtime, event, region, topology)


def _item_lock(kind: ItemKind, name: str) -> threading.Lock:
    """Events for one item are handled one at a time per process, so that a duplicate
    delivered concurrently with its original finds the copy done (check-then-act)."""
    return _ITEM_LOCKS[hash(item_key(kind, name)) % len(_ITEM_LOCKS)]


_ITEM_LOCKS = tuple(threading.Lock() for _ in range(64))


def _replicate(runtime: Any, event: VaultEvent, region: Region, topology: TopologyRecord
               ) -> _Pending:
    ignored = EventStatus.IGNORED
    config = runtime.config
    where = {"region": region.name}
    source = runtime.session(region.name)
    latest, is_latest = latest_state(source, event.kind, event.name, event.version)
    if latest is None:
        return _pending(event, ignored, reason=IgnoreReason.DELETED, **where)
    if latest.managed:
        return _pending(event, ignored, reason=IgnoreReason.BACKING_OBJECT, **where)
    if latest.link_state == LinkState.CONFIRMED:
        return _pending(event, ignored, reason=IgnoreReason.SELF_WRITTEN, **where)

    from kvdr.sync.replicate import sync_item
    from kvdr.topology.store import FENCED_CODE

    sessions = {name: runtime.session(name) for name in config.region_names}
    # a stale event (an older version, or one the primary does not show yet) still copies
    # the latest: the event is a hint, the primary is the truth; the real id it names is the
    # latest's, so that the same-second re-check compares the right version
    version = (event.version if is_latest else latest.version) or None
    outcomes = sync_item(config, sessions, topology, event.kind, event.name,
                         fingerprint_key=runtime.fingerprint_key, version=version,
                         fence=_fence(runtime, topology, region.name))
    targets = {target: ("fenced" if o.code == FENCED_CODE else str(o.action) if o.ok
                        else "failed") for target, o in outcomes.items()}
    if "fenced" in targets.values():  # a failover happened: the new primary's events rule
        return _pending(event, ignored, reason=IgnoreReason.NON_PRIMARY, targets=targets,
                        **where)
    if any(not o.ok for o in outcomes.values()):
        first = next(o for o in outcomes.values() if not o.ok)
        error = {"code": first.code or "event.failed", "message": first.message or "failed"}
        return _pending(event, EventStatus.FAILED, targets=targets, error=error, **where)
    actions = set(targets.values())
    if actions & _WRITE_ACTIONS:
        return _pending(event, EventStatus.REPLICATED, targets=targets, **where)
    if actions <= {"unchanged"}:
        reason = IgnoreReason.DUPLICATE if is_latest else IgnoreReason.STALE
        return _pending(event, ignored, reason=reason, targets=targets, **where)
    return _pending(event, ignored, reason=IgnoreReason.NOT_COPIED, targets=targets, **where)


def _fence(runtime: Any, topology: TopologyRecord, source: str
           ) -> Callable[[Any], str | None]:
    """Decision 1 on the event path: before writing to a target, read its record (once). A
    higher epoch than the cached topology's means a failover happened since it was read:
    re-read the topology and refuse unless ``source`` is still the primary."""
    from kvdr.topology.record import choose_current
    from kvdr.topology.store import newer_record

    def refuse(target: Any) -> str | None:
        newer = newer_record(target, topology.epoch)
        if newer is None:
            return None
        current = choose_current([TOPOLOGY.get(runtime, fresh=True), newer])
        if current.primary == source:
            return None
        return (f"{target.region} holds topology epoch {newer.epoch}: {current.primary} is "
                f"primary, not {source}; nothing written")

    return refuse


def latest_state(session: Any, kind: ItemKind, name: str, version: str
                 ) -> tuple[ItemProps | None, bool]:
    """The primary item's latest properties (no value read) and whether ``version`` (a service
    version id, as events carry) may be that latest version.

    Keys and certificates: ``get`` names the latest version exactly. Secrets: only the version
    list is value-free, and it orders versions by creation time in whole seconds, so a version
    counts as stale only when a version was created in a *later* second; two versions of one
    second are both treated as possibly latest (``sync_item`` copies the latest either way)."""
    from kvdr.vault.session import props_from_certificate, props_from_key, props_from_secret

    what = f"get {kind} '{name}'"
    try:
        with session.mapped(what):
            if kind == ItemKind.SECRET:
                versions = list(session.secrets.list_properties_of_secret_versions(name))
                if not versions:
                    return None, False
                def created(p: Any) -> float:
                    return p.created_on.timestamp() if p.created_on else 0.0
                newest = max(versions, key=lambda p: (created(p), p.updated_on or p.created_on))
                mine = next((p for p in versions
                             if (p.version or "").lower() == version.lower()), None)
                fresh = mine is not None and created(mine) >= created(newest)
                return props_from_secret(newest if not fresh else mine), fresh
            if kind == ItemKind.CERTIFICATE:
                props = session.certificates.get_certificate(name).properties
                return (props_from_certificate(props),
                        (props.version or "").lower() == version.lower())
            key = session.keys.get_key(name)
            return (props_from_key(key.properties, key_type=key.key_type),
                    (key.properties.version or "").lower() == version.lower())
    except KvdrError as exc:
        if exc.code == "vault.not_found":
            return None, False
        raise


def _log(outcome: EventOutcome) -> None:
    what = (f"{outcome.event_type} {outcome.vault}/{outcome.name}/{outcome.version} "
            f"(event {outcome.event_id})")
    if outcome.status == EventStatus.REPLICATED:
        log.info("replicated %s to %s in %.3fs", what,
                 ", ".join(f"{r}={a}" for r, a in sorted(outcome.targets.items())),
                 outcome.seconds)
    elif outcome.status == EventStatus.FAILED:
        log.warning("failed %s: %s", what, (outcome.error or {}).get("message", "failed"))
    elif outcome.reason in (IgnoreReason.NEAR_EXPIRY, IgnoreReason.EXPIRED):
        log.warning("%s: %s in region %s (not copied; renew or rotate it in the primary)",
                    outcome.reason, what, outcome.region)
    elif outcome.reason == IgnoreReason.UNSUPPORTED:
        # the subscription filters to item events: another type means it was changed
        log.warning("ignored %s: %s (the Event Grid subscription should not send it)", what,
                    outcome.reason)
    else:
        log.info("ignored %s: %s", what, outcome.reason)


def _stats(runtime: Any, phase: str, outcome: EventOutcome | None) -> None:
    """Best effort: a state store outage must not fail (and so retry) a good replication."""
    from kvdr.events.stats import STATS_KEY, record_begin, record_end

    state = getattr(runtime, "state", None)
    if state is None:
        return
    try:
        if phase == "begin":
            state.update_json(STATS_KEY, record_begin)
        else:
            assert outcome is not None
            state.update_json(STATS_KEY, lambda old: record_end(old, outcome))
    except Exception as exc:  # counters are not worth a retry
        log.warning("could not update %s: %s", STATS_KEY, type(exc).__name__)
