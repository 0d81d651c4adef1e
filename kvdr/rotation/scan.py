"""The rotation scan: what the events missed, announced at the end of every full sync.

An expiry event can be missed — the app was down at the near-expiry moment, Event Grid gave up
after 24 h, the subscription was not there yet. The scan lists the primary's secrets,
certificates and keys (list calls: they carry ``expires``, never a value), and announces every
user item whose expiry is within :data:`DUE_WITHIN` (or past) and whose marker does not announce
that expiry. Reserved items (``kvdr-*``) and a certificate's backing secret and key are never
announced. The same listing holds the primary's markers, so an item already announced costs no
further call; for those, the scan also writes the marker to any other vault that lacks it (a
vault that was down when the item was announced), so a failover finds it.

Only the primary's app runs the scan (:mod:`activities.rotation` checks), so messages go to the
primary's region's queue, as the event path's do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kvdr.errors import KvdrError
from kvdr.rotation.announce import MarkerCopies, Outcome, announce, latest_version
from kvdr.rotation.contracts import MAX_LISTED, ScanResult
from kvdr.rotation.markers import MARKER_PREFIX, markers_in
from kvdr.rotation.message import DueReason, Source, expiry_seconds
from kvdr.rotation.publisher import PublishError, RotationPublisher
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, sort_key
from kvdr.vault.links import is_reserved_name
from kvdr.vault.session import VaultSession

log = logging.getLogger(__name__)

DUE_WITHIN = timedelta(days=30)  # Key Vault's NearExpiry offset


def is_due(props: ItemProps, now: datetime) -> bool:
    return props.expires is not None and props.expires <= now + DUE_WITHIN


def due_reason(expires: datetime, now: datetime) -> DueReason:
    return DueReason.EXPIRED if expires <= now else DueReason.NEAR_EXPIRY


@dataclass(frozen=True)
class ScanInputs:
    """What the scan needs of the primary's listing: the items that may be due (expiring
    within :data:`DUE_WITHIN` and a day of margin of when they were listed) and the markers.
    A full sync's plan listed the primary anyway and keeps these for the scan, so the scan
    costs no second listing of a vault of many secrets."""

    items: tuple[ItemProps, ...]
    markers: Mapping[str, Mapping[str, str]]  # marker secret name -> its tags

    @classmethod
    def of(cls, inventory: Inventory, listed_at: datetime) -> ScanInputs:
        horizon = listed_at + DUE_WITHIN + timedelta(days=1)
        return cls(tuple(p for p in inventory.items if p.expires is not None
                         and p.expires <= horizon),
                   {p.name: dict(p.tags) for p in inventory.of_kind(ItemKind.SECRET)
                    if p.name.lower().startswith(MARKER_PREFIX)})

    def to_dict(self) -> dict[str, Any]:
        return {"items": [p.to_dict() for p in self.items],
                "markers": {name: dict(tags) for name, tags in self.markers.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanInputs:
        return cls(tuple(ItemProps.from_dict(p) for p in data.get("items") or ()),
                   {str(k): dict(v) for k, v in (data.get("markers") or {}).items()})


def scan_primary(primary: VaultSession, publisher: RotationPublisher, *, epoch: int,
                 now: datetime, copies: MarkerCopies, inputs: ScanInputs | None = None
                 ) -> ScanResult:
    """Announce what is due in ``primary``'s vault. A vault error on one item is reported and
    the scan goes on; a queue that refuses stops it (every later message would fail too).
    ``inputs``: what a full sync's plan kept of its listing of the primary; without them the
    primary is listed here."""
    if inputs is None:
        inputs = ScanInputs.of(primary.inventory(include_deleted=False), now)
    markers = markers_in(inputs.markers)
    due = published = announced = repaired = 0
    items: list[str] = []
    failures: list[dict[str, str]] = []
    for props in sorted(inputs.items, key=lambda p: sort_key(p.kind, p.name)):
        if is_reserved_name(props.name) or props.managed or not is_due(props, now):
            continue
        due += 1
        marker = markers.get((props.kind, props.name.lower()))
        try:
            if marker is not None and marker.announces(props.expires):
                announced += 1
                done = copies.write(marker, only_if_missing=True)
                repaired += sum(1 for what in done.values() if what == "written")
                continue
            latest = latest_version(primary, props.kind, props.name,
                                    expires=expiry_seconds(props.expires))  # type: ignore[arg-type]
            if latest is None or latest.props.managed or not is_due(latest.props, now):
                continue  # gone or changed since the listing
            result = announce(primary, publisher, latest, marker=marker, epoch=epoch,
                              reason=due_reason(latest.props.expires, now),  # type: ignore[arg-type]
                              source=Source.SCAN, now=now, copies=copies)
        except PublishError as exc:
            log.warning("rotation scan stopped: %s", exc.message)
            return _result(primary, epoch, due, published, announced, repaired, items,
                           failures, error=exc.to_dict())
        except KvdrError as exc:
            failures.append({"kind": str(props.kind), "name": props.name, "code": exc.code,
                             "message": exc.message})
            continue
        if result.outcome == Outcome.PUBLISHED:
            published += 1
            items.append(f"{props.kind}/{props.name}")
        elif result.outcome == Outcome.ANNOUNCED:
            announced += 1
    log.info("rotation scan of %s: %d due, %d published, %d announced before, %d marker "
             "copies repaired, %d failed", primary.region, due, published, announced, repaired,
             len(failures))
    return _result(primary, epoch, due, published, announced, repaired, items, failures)


def _result(primary: VaultSession, epoch: int, due: int, published: int, announced: int,
            repaired: int, items: list[str], failures: list[dict[str, str]],
            error: dict[str, str] | None = None) -> ScanResult:
    return ScanResult(ok=error is None and not failures, primary=primary.region, epoch=epoch,
                      due=due, published=published, announced=announced, repaired=repaired,
                      published_items=tuple(items[:MAX_LISTED]),
                      failures=tuple(failures[:MAX_LISTED]), error=error,
                      calls={primary.region: primary.calls})
