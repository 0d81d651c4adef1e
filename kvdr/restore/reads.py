"""What a restore plan is decided from, and reading it. Value-free: list calls and version
lists only (plus a certificate's policy, for whether it is exportable).

* the primary's inventory (latest version of every item) and its soft-deleted items with their
  deletion dates;
* the version list of every item in scope whose latest version was created after TIME;
* the secondaries' inventories (their link tags), and the version lists there of items the
  primary lacks or whose primary history does not reach back to TIME.

:class:`RestoreReads` holds it all; :func:`kvdr.restore.plan.plan_restore` decides over it
without I/O. Reads that fail are named in ``unread`` (the item cannot be planned) and make the
plan incomplete; they never raise, except the primary's own inventory (no plan without it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kvdr.errors import KvdrError
from kvdr.restore.marks import mark_of
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, item_key, to_utc
from kvdr.vault.session import (
    PAGE_SIZE,
    VaultSession,
    props_from_certificate,
    props_from_key,
    props_from_secret,
)

log = logging.getLogger(__name__)

READ_WORKERS = 8  # version listings in flight per vault (each paced like every call)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def token_time(token: str | None) -> datetime | None:
    """The creation time a version token (``c<unix seconds>``) stands for."""
    if not token or not token.startswith("c") or not token[1:].isdigit():
        return None
    return datetime.fromtimestamp(int(token[1:]), UTC)


@dataclass(frozen=True)
class VersionRecord:
    """One version of an item: its service version id and its properties (no value)."""

    id: str | None
    props: ItemProps

    @property
    def created(self) -> datetime | None:
        return token_time(self.props.version)

    @property
    def order(self) -> tuple[datetime, datetime, bool]:
        """Latest last. Versions of one second tie; a confirmed restore wins such a tie (kvdr
        wrote it after the versions it saw)."""
        mark = mark_of(self.props.tags)
        return (self.created or _EPOCH, self.props.updated_on or _EPOCH,
                mark is not None and mark.confirmed_for(self.id))


def latest_record(history: Iterable[VersionRecord]) -> VersionRecord | None:
    return max(history, key=lambda r: r.order, default=None)


def version_at(history: Iterable[VersionRecord], as_of: datetime) -> VersionRecord | None:
    """The version current at ``as_of``: the latest created at or before it (versions of one
    second tie; the later-updated one wins, as the service's own listing order does)."""
    return latest_record(r for r in history if r.created is not None and r.created <= as_of)


@dataclass(frozen=True)
class DeletedRecord:
    """A soft-deleted item: its latest version's properties and when it was deleted."""

    props: ItemProps
    deleted_on: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "deleted_on", to_utc(self.deleted_on))

    @property
    def key(self) -> str:
        return self.props.key


@dataclass(frozen=True)
class RestoreReads:
    """Everything the planner decides from. ``histories``: the primary's version lists by
    item key; ``copies``: ``(region, item key)`` -> that region's version list;
    ``exportable``: ``(region, item key)`` -> whether the certificate's policy is exportable;
    ``unread``: ``(region, item key)`` -> what failed (``[code] message``), and
    ``(region, "*")`` for a whole inventory; ``complete`` is False when any read failed;
    ``missing_since``: the full sync's first sightings of items missing from the primary."""

    primary: str
    items: tuple[ItemProps, ...] = ()
    deleted: tuple[DeletedRecord, ...] = ()
    histories: Mapping[str, tuple[VersionRecord, ...]] = field(default_factory=dict)
    others: Mapping[str, Inventory] = field(default_factory=dict)
    copies: Mapping[tuple[str, str], tuple[VersionRecord, ...]] = field(default_factory=dict)
    exportable: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    unread: Mapping[tuple[str, str], str] = field(default_factory=dict)
    complete: bool = True
    # item key -> since when the full sync has seen it missing from the primary (the earliest
    # of the secondaries' records): an item already gone at TIME is not brought back
    missing_since: Mapping[str, datetime] = field(default_factory=dict)


# --- I/O ------------------------------------------------------------------------------------

_CONVERT: dict[ItemKind, Callable[[Any], ItemProps]] = {
    ItemKind.SECRET: props_from_secret, ItemKind.CERTIFICATE: props_from_certificate,
    ItemKind.KEY: props_from_key}


def read_deleted(session: VaultSession, kinds: Sequence[ItemKind]
                 ) -> tuple[tuple[DeletedRecord, ...], dict[tuple[str, str], str]]:
    """The soft-deleted items of ``kinds`` with their deletion dates (list calls only);
    failures by ``(region, "<kind>s-deleted")``."""
    found: list[DeletedRecord] = []
    failed: dict[tuple[str, str], str] = {}
    for kind in kinds:
        client: Any = {ItemKind.SECRET: session.secrets,
                       ItemKind.CERTIFICATE: session.certificates,
                       ItemKind.KEY: session.keys}[kind]
        try:
            with session.mapped(f"list deleted {kind}s"):
                for d in getattr(client, f"list_deleted_{kind}s")(max_page_size=PAGE_SIZE):
                    when = getattr(d, "deleted_on", None) or getattr(d, "deleted_date", None)
                    found.append(DeletedRecord(_CONVERT[kind](d.properties), when))
        except KvdrError as exc:
            log.warning("restore plan: listing deleted %ss of %s failed: [%s]", kind,
                        session.region, exc.code)
            failed[(session.region, f"{kind}s-deleted")] = f"[{exc.code}] {exc.message}"
    return tuple(found), failed


def read_history(session: VaultSession, kind: ItemKind, name: str, *,
                 policy: bool = False) -> tuple[tuple[VersionRecord, ...], bool | None]:
    """An item's versions (None -> empty: it does not exist) and, with ``policy`` for a
    certificate, whether its policy is exportable (None: unknown). Raises KvdrError."""
    history = session.version_history(kind, name) or []
    records = tuple(VersionRecord(vid, p) for vid, p in history)
    exportable: bool | None = None
    if policy and kind == ItemKind.CERTIFICATE and records:
        found = session.call_or_none(f"get certificate policy '{name}'",
                                     session.certificates.get_certificate_policy, name)
        exportable = None if found is None else found.exportable is not False
    return records, exportable


@dataclass
class HistoryReads:
    """What :func:`read_histories` found in one region."""

    histories: dict[str, tuple[VersionRecord, ...]] = field(default_factory=dict)
    exportable: dict[tuple[str, str], bool] = field(default_factory=dict)
    unread: dict[tuple[str, str], str] = field(default_factory=dict)


def read_histories(session: VaultSession, wanted: Iterable[tuple[ItemKind, str]], *,
                   workers: int = READ_WORKERS) -> HistoryReads:
    """Version lists (and certificates' exportability) of ``wanted`` items in one vault,
    ``workers`` at a time; a failed read is recorded in ``unread``, never raised."""
    wanted = list(dict.fromkeys((ItemKind(k), n) for k, n in wanted))
    out = HistoryReads()
    if not wanted:
        return out

    def one(entry: tuple[ItemKind, str]) -> tuple[tuple[ItemKind, str], Any]:
        kind, name = entry
        try:
            return entry, read_history(session, kind, name, policy=True)
        except KvdrError as exc:
            return entry, exc

    if len(wanted) == 1 or workers <= 1:
        results = [one(w) for w in wanted]
    else:
        with ThreadPoolExecutor(min(workers, len(wanted)),
                                thread_name_prefix=f"kvdr-restore-{session.region}") as pool:
            results = list(pool.map(one, wanted))
    for (kind, name), result in results:
        key = item_key(kind, name)
        if isinstance(result, KvdrError):
            log.warning("restore plan: version list of %s %s in %s not read: [%s]", kind, name,
                        session.region, result.code)
            out.unread[(session.region, key)] = f"[{result.code}] {result.message}"
            continue
        records, exportable = result
        out.histories[key] = records
        if exportable is not None:
            out.exportable[(session.region, key)] = exportable
    return out
