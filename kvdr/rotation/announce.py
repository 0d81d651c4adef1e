"""Announcing one item's expiry: check the marker, enqueue the message, write the markers.

The order makes the signal at-least-once and never lost: the primary's marker is checked first
(a version list, no value read); the message is enqueued; then the marker is written to the
primary (this must succeed: if it does not, the caller fails and is retried, and the retry
enqueues a message with the SAME id — consumers dedupe by id); then best effort to every other
vault that answers, through probe sessions, so that the next primary knows after a failover.

:func:`announce_event` is the event path's (``…NearExpiry``/``…Expired`` from the primary's
vault; :mod:`kvdr.events.handler` has decided the vault is the primary). The event is a hint:
the item's latest version is re-read (its version list), and only an expiry the latest version
still carries is announced. :mod:`kvdr.rotation.scan` uses :func:`announce` for what events
missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from kvdr.errors import KvdrError
from kvdr.rotation.markers import Marker, read_marker, write_marker
from kvdr.rotation.message import DueReason, RotationMessage, Source, expiry_seconds
from kvdr.rotation.publisher import RotationPublisher
from kvdr.vault.inventory import ItemKind, ItemProps
from kvdr.vault.session import VaultSession

if TYPE_CHECKING:  # annotations only
    from kvdr.config.schema import Config

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What announcing one item did. The values other than ``not-due`` are the event path's
    reasons (:class:`kvdr.events.model.IgnoreReason`)."""

    PUBLISHED = "rotation-due"        # a message was enqueued and the marker written
    ANNOUNCED = "announced"           # this expiry was announced already (the marker says so)
    NOT_DUE = "not-due"               # no expiry, or the latest version carries another one
    DELETED = "deleted"               # the item is gone from the primary
    BACKING_OBJECT = "backing-object"  # a certificate's backing secret/key: the certificate's


@dataclass(frozen=True)
class Announcement:
    outcome: Outcome
    kind: ItemKind
    name: str
    message_id: str | None = None
    copies: dict[str, str] = field(default_factory=dict)  # region -> "written" or error code

    @property
    def event_reason(self) -> str | None:
        """The event path's reason for this outcome; None: the event's own (``near-expiry``,
        ``expired``)."""
        return None if self.outcome == Outcome.NOT_DUE else str(self.outcome)


@dataclass(frozen=True)
class Latest:
    """An item's latest version: the service's version id and its properties (no value)."""

    version: str | None
    props: ItemProps


def latest_version(session: VaultSession, kind: ItemKind, name: str, *,
                   version: str | None = None, expires: int | None = None) -> Latest | None:
    """The latest version from the item's version list (no value read); None when it is gone.

    The list orders versions by creation time in whole seconds only, so versions created in the
    same second tie; among them the one the caller knows is preferred — the ``version`` an event
    named, else the one carrying ``expires`` (Unix seconds, as the item listing shows the latest
    version's) — and only then the last updated."""
    history = session.version_history(kind, name)
    if not history:
        return None

    def created(props: ItemProps) -> int:
        token = props.version or "c0"
        return int(token[1:]) if token[1:].isdigit() else 0

    newest = max(created(props) for _, props in history)
    tied = [(v, p) for v, p in history if created(p) == newest]

    def order(entry: tuple[str | None, ItemProps]) -> tuple[bool, bool, float]:
        found, props = entry
        named = version is not None and (found or "").lower() == version.lower()
        carries = expires is not None and props.expires is not None and \
            expiry_seconds(props.expires) == expires
        return named, carries, props.updated_on.timestamp() if props.updated_on else 0.0

    found, props = max(tied, key=order)
    return Latest(found, props)


class MarkerCopies:
    """The other vaults' markers, through probe sessions opened on first use and closed by
    :meth:`close`. A vault that fails once is left alone for the rest of the run (its code is
    reported): best effort must not cost a dead vault's timeout per item."""

    def __init__(self, regions: Iterable[str], open_probe: Callable[[str], VaultSession]
                 ) -> None:
        self.regions = tuple(regions)
        self._open = open_probe
        self._sessions: dict[str, VaultSession] = {}
        self.failed: dict[str, str] = {}

    def write(self, marker: Marker, *, only_if_missing: bool = False) -> dict[str, str]:
        """Write ``marker`` to every other vault (``only_if_missing``: where that vault's marker
        does not already announce the same expiry); returns what happened per region."""
        done: dict[str, str] = {}
        for region in self.regions:
            if region in self.failed:
                done[region] = self.failed[region]
                continue
            try:
                session = self._session(region)
                if only_if_missing:
                    held = read_marker(session, marker.kind, marker.name)
                    if held is not None and held.announces(marker.expires):
                        done[region] = "present"
                        continue
                write_marker(session, marker)
                done[region] = "written"
            except KvdrError as exc:
                log.warning("rotation marker of %s '%s' not copied to %s [%s]", marker.kind,
                            marker.name, region, exc.code)
                self.failed[region] = done[region] = exc.code
        return done

    def _session(self, region: str) -> VaultSession:
        session = self._sessions.get(region)
        if session is None:
            session = self._sessions[region] = self._open(region)
        return session

    def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


def announce(primary: VaultSession, publisher: RotationPublisher, latest: Latest, *,
             marker: Marker | None, epoch: int, reason: DueReason, source: Source,
             now: datetime, copies: MarkerCopies) -> Announcement:
    """Announce ``latest``'s expiry unless ``marker`` (the primary's) already says it was.
    Raises :class:`~kvdr.rotation.publisher.PublishError` when the queue refuses and a
    ``vault.*`` error when the primary's marker cannot be written (both: retry)."""
    props = latest.props
    expires = props.expires
    if expires is None:
        return Announcement(Outcome.NOT_DUE, props.kind, props.name)
    if marker is not None and marker.announces(expires):
        return Announcement(Outcome.ANNOUNCED, props.kind, props.name, marker.message_id)
    message = RotationMessage(kind=props.kind, name=props.name, version=latest.version,
                              expires=expires, region=primary.region, vault_url=primary.url,
                              epoch=epoch, reason=reason, published_at=now, source=source)
    publisher.publish(message)
    written = Marker(props.kind, props.name, message.expires, epoch)
    write_marker(primary, written)
    return Announcement(Outcome.PUBLISHED, props.kind, props.name, message.id,
                        copies.write(written))


class RotationRuntime(Protocol):
    """What the event path hands in (the app's runtime satisfies it): the configuration, the
    cached session of a region's vault, and probe sessions for the other vaults."""

    @property
    def config(self) -> Config: ...

    def session(self, region: str) -> VaultSession: ...

    def open_probe(self, region: str) -> VaultSession: ...


def announce_event(runtime: RotationRuntime, publisher: RotationPublisher, *, region: str,
                   epoch: int, kind: ItemKind, name: str, version: str | None,
                   expires: int | None, reason: DueReason, now: datetime) -> Announcement:
    """An expiry event from ``region``'s vault, the primary at ``epoch``. ``version`` and
    ``expires`` are what the event names (``EXP`` in Unix seconds; None when absent)."""
    session = runtime.session(region)
    latest = latest_version(session, kind, name, version=version, expires=expires)
    if latest is None:
        return Announcement(Outcome.DELETED, kind, name)
    if latest.props.managed:
        return Announcement(Outcome.BACKING_OBJECT, kind, name)
    current = latest.props.expires
    if current is None or (expires is not None and expiry_seconds(current) != expires):
        log.info("rotation: %s '%s' no longer expires as the event said (rotated or changed "
                 "since); nothing announced", kind, name)
        return Announcement(Outcome.NOT_DUE, kind, name)
    copies = MarkerCopies([r for r in runtime.config.region_names if r != region],
                          runtime.open_probe)
    try:
        return announce(session, publisher, latest, marker=read_marker(session, kind, name),
                        epoch=epoch, reason=reason, source=Source.EVENT, now=now,
                        copies=copies)
    finally:
        copies.close()
