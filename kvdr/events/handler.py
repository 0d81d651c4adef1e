"""The event path: Key Vault change hints from Event Grid, turned into one-item replications.

Event Grid tells kvdr *that* something changed, never *what* it changed to: the data carries
the vault, kind, name and version (``Id, VaultName, ObjectType, ObjectName, Version, NBF,
EXP``), never a value. Deliveries are at-least-once and unordered, so an event is a hint: the
handler re-reads the primary's *latest* state and replicates that
(``kvdr.sync.replicate.sync_item``), and full sync stays the backstop.

:mod:`kvdr.events.parse` reads the Event Grid schema (an array, or one event) and CloudEvents
1.0, and recognises the subscription validation handshake. :meth:`EventHandler.handle` decides,
in this order (the first that applies wins):

| step | outcome |
| --- | --- |
| event id already handled by this process | ignored ``duplicate`` (no vault call) |
| vault maps to no configured region | ignored ``unknown-vault`` |
| ``…NearExpiry`` / ``…Expired``, rotation publishing off | counted and logged (``near-expiry`` |
| | / ``expired``), no copy |
| the same, publishing on (:mod:`kvdr.rotation`): reserved name | ``near-expiry`` / ``expired`` |
| the same, vault is not the current primary | ignored ``non-primary`` |
| the same, primary: one message per item per expiry | ``rotation-due`` (published), |
| | ``announced`` (its marker says so), ``deleted``, ``backing-object``, or ``near-expiry`` / |
| | ``expired`` (the latest version no longer carries that expiry) |
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

An :class:`EventHandler` owns what it remembers between events (:mod:`kvdr.events.caches`); the
process has one (:func:`process_handler`), which the triggers use and a failover's switch tells
to forget the topology. Counters go to the state store key ``events/stats.json`` (see
:mod:`kvdr.events.stats`).
Nothing here logs or stores a value: outcomes carry names, versions, regions and reasons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.keyvault.secrets import SecretProperties

from kvdr.config.schema import Region
from kvdr.errors import KvdrError
from kvdr.events.caches import ItemLocks, SeenEvents, TopologyCache
from kvdr.events.context import EventRuntime
from kvdr.events.model import EventChange, EventOutcome, EventStatus, IgnoreReason, VaultEvent
from kvdr.events.parse import EventError, parse_delivery, region_for_event
from kvdr.events.stats import STATS_KEY, record_begin, record_end
from kvdr.rotation.announce import announce_event
from kvdr.rotation.message import DueReason
from kvdr.rotation.publisher import rotation_publisher
from kvdr.sync.replicate import sync_item
from kvdr.topology.record import TopologyRecord, choose_current
from kvdr.topology.store import FENCED_CODE, newer_record
from kvdr.vault.inventory import ItemKind, ItemProps
from kvdr.vault.links import LinkState, is_reserved_name
from kvdr.vault.session import (
    VaultSession,
    props_from_certificate,
    props_from_key,
    props_from_secret,
)

log = logging.getLogger("kvdr.events.handler")


class EventFailed(KvdrError):
    """Handling failed in a way a retry may fix (code ``event.failed``). Triggers let it
    propagate so that Event Grid / the queue retries and finally dead-letters the event."""

    default_code = "event.failed"



_WRITE_ACTIONS = {"create", "update_value", "update_attributes", "delete_candidate"}

_Pending = Callable[[datetime, float], EventOutcome]


class EventHandler:
    """Handles Key Vault events, one at a time per item, and owns what it remembers between
    them: the topology in force (re-read at most every few seconds), the ids of events handled
    to the end, and the per-item locks. The runtime is handed in per call: the caches belong to
    the process, whatever runtime it has installed."""

    def __init__(self, *, topology: TopologyCache | None = None,
                 seen: SeenEvents | None = None, locks: ItemLocks | None = None) -> None:
        self.topology = topology or TopologyCache()
        self.seen = seen or SeenEvents()
        self.locks = locks or ItemLocks()

    def forget_topology(self) -> None:
        """After a failover: the next event re-reads who is primary."""
        self.topology.clear()

    def reset(self) -> None:
        """Forget the cached topology and handled event ids (as a new process would)."""
        self.topology.clear()
        self.seen.clear()

    def handle(self, runtime: EventRuntime, event: VaultEvent, *, record_stats: bool = True,
               now: Callable[[], datetime] | None = None) -> EventOutcome:
        """Handle one Key Vault event (see the module docstring for the decision order).
        Returns the outcome for events that end normally (replicated or ignored); raises
        :class:`EventFailed` when a retry may help (a vault call failed, a target failed)."""
        clock = now or (lambda: datetime.now(UTC))
        started = time.perf_counter()
        if record_stats:
            _stats(runtime, "begin", None)
        try:
            outcome = self._decide(runtime, event)
        except Exception as exc:
            error = exc.to_dict() if isinstance(exc, KvdrError) else {
                "code": "event.failed",
                "message": f"{type(exc).__name__} while handling the event"}
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
        self.seen.add(event.id)
        return outcome

    def handle_payload(self, runtime: EventRuntime,
                       payload: bytes | str | list[Any] | Mapping[str, Any]
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
        outcomes += [self.handle(runtime, event) for event in delivery.events]
        return outcomes

    def _decide(self, runtime: EventRuntime, event: VaultEvent) -> _Pending:
        ignored = EventStatus.IGNORED
        if event.id in self.seen:
            return _pending(event, ignored, reason=IgnoreReason.DUPLICATE)
        config = runtime.config
        region = region_for_event(config, event)
        if region is None:
            return _pending(event, ignored, reason=IgnoreReason.UNKNOWN_VAULT)
        where = {"region": region.name}
        if event.change != EventChange.NEW_VERSION:
            reason = (IgnoreReason.NEAR_EXPIRY if event.change == EventChange.NEAR_EXPIRY
                      else IgnoreReason.EXPIRED)
            # decision 9: one "rotation due" per item per expiry, from the primary only
            publisher = rotation_publisher(config)
            if publisher is None or is_reserved_name(event.name):
                return _pending(event, ignored, reason=reason, **where)
            topology = self._primary(runtime, region.name)
            if topology is None:
                return _pending(event, ignored, reason=IgnoreReason.NON_PRIMARY, **where)
            with self.locks.for_item(event.kind, event.name):
                done = announce_event(
                    runtime, publisher, region=region.name, epoch=topology.epoch,
                    kind=event.kind, name=event.name, version=event.version or None,
                    expires=event.expires,
                    reason=DueReason(str(reason)), now=datetime.now(UTC))
            found = IgnoreReason(done.event_reason) if done.event_reason else reason
            return _pending(event, ignored, reason=found, **where)
        if is_reserved_name(event.name):
            return _pending(event, ignored, reason=IgnoreReason.RESERVED, **where)

        topology = self._primary(runtime, region.name)
        if topology is None:
            return _pending(event, ignored, reason=IgnoreReason.NON_PRIMARY, **where)

        with self.locks.for_item(event.kind, event.name):
            return self._replicate(runtime, event, region, topology)

    def _primary(self, runtime: EventRuntime, region: str) -> TopologyRecord | None:
        """The topology in force when ``region`` is its primary, else None. A failover or
        failback may have happened since the cached read: a mismatch is checked once, fresh."""
        topology = self.topology.get(runtime)
        if topology.primary != region:
            topology = self.topology.get(runtime, fresh=True)
        return topology if topology.primary == region else None

    def _replicate(self, runtime: EventRuntime, event: VaultEvent, region: Region,
                   topology: TopologyRecord) -> _Pending:
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

        sessions = {name: runtime.session(name) for name in config.region_names}
        # a stale event (an older version, or one the primary does not show yet) still copies
        # the latest: the event is a hint, the primary is the truth; the real id it names is
        # the latest's, so that the same-second re-check compares the right version
        version = (event.version if is_latest else latest.version) or None
        outcomes = sync_item(config, sessions, topology, event.kind, event.name,
                             fingerprint_key=runtime.fingerprint_key, version=version,
                             fence=self._fence(runtime, topology, region.name))
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
        return _pending(event, ignored, reason=IgnoreReason.NOT_COPIED, targets=targets,
                        **where)

    def _fence(self, runtime: EventRuntime, topology: TopologyRecord, source: str
               ) -> Callable[[VaultSession], str | None]:
        """Decision 1 on the event path: before writing to a target, read its record (once).
        A higher epoch than the cached topology's means a failover happened since it was read:
        re-read the topology and refuse unless ``source`` is still the primary."""

        def refuse(target: VaultSession) -> str | None:
            newer = newer_record(target, topology.epoch)
            if newer is None:
                return None
            current = choose_current([self.topology.get(runtime, fresh=True), newer])
            if current.primary == source:
                return None
            return (f"{target.region} holds topology epoch {newer.epoch}: {current.primary} "
                    f"is primary, not {source}; nothing written")

        return refuse


_PROCESS_HANDLER = EventHandler()


def process_handler() -> EventHandler:
    """This process's handler. Azure runs the event triggers and the failover's switch
    activity in the same worker process, and the switch must make that handler forget the
    topology it cached: so there is one per process, as there is one runtime."""
    return _PROCESS_HANDLER


def handle_event(runtime: EventRuntime, event: VaultEvent, *, record_stats: bool = True,
                 now: Callable[[], datetime] | None = None) -> EventOutcome:
    """:meth:`EventHandler.handle` on this process's handler."""
    return _PROCESS_HANDLER.handle(runtime, event, record_stats=record_stats, now=now)


def handle_payload(runtime: EventRuntime, payload: bytes | str | list[Any] | Mapping[str, Any]
                   ) -> list[EventOutcome]:
    """:meth:`EventHandler.handle_payload` on this process's handler."""
    return _PROCESS_HANDLER.handle_payload(runtime, payload)


def reset_caches() -> None:
    """Make this process's handler forget what it cached (tests; the demo between acts)."""
    _PROCESS_HANDLER.reset()


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


def latest_state(session: VaultSession, kind: ItemKind, name: str, version: str
                 ) -> tuple[ItemProps | None, bool]:
    """The primary item's latest properties (no value read) and whether ``version`` (a service
    version id, as events carry) may be that latest version.

    Keys and certificates: ``get`` names the latest version exactly. Secrets: only the version
    list is value-free, and it orders versions by creation time in whole seconds, so a version
    counts as stale only when a version was created in a *later* second; two versions of one
    second are both treated as possibly latest (``sync_item`` copies the latest either way)."""
    what = f"get {kind} '{name}'"
    try:
        with session.mapped(what):
            if kind == ItemKind.SECRET:
                versions = list(session.secrets.list_properties_of_secret_versions(name))
                if not versions:
                    return None, False
                def created(p: SecretProperties) -> float:
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


def _stats(runtime: EventRuntime, phase: str, outcome: EventOutcome | None) -> None:
    """Best effort: a state store outage must not fail (and so retry) a good replication."""
    state = runtime.state
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
