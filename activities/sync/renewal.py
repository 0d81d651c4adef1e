"""A pair's renewal step (:meth:`activities.sync.SyncActivities.align_renewal`): fenced like a
batch, one chunk of :func:`kvdr.sync.renewal_step.align_chunk` per call, the list of items
kept in the state store for the chunks after the first when there is more than one."""

from __future__ import annotations

import logging

from activities.services import SyncServices, calls_of, open_sessions
from activities.sync.store import renewal_items_key
from kvdr.errors import KvdrError
from kvdr.renewal.align import Item, common_items
from kvdr.state.store import StateStore
from kvdr.sync.contracts import RenewalRequest, RenewalResult
from kvdr.sync.renewal_section import failed_section
from kvdr.sync.renewal_step import RENEWAL_CHUNK, align_chunk
from kvdr.topology.store import FENCED_CODE, fenced_message, newer_record
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)


def _items(state: StateStore, request: RenewalRequest, primary: VaultSession,
           secondary: VaultSession) -> list[Item]:
    """The first chunk lists both vaults and keeps the list when it needs more than one chunk;
    the later chunks read it back (listed again only if the state store lost it)."""
    key = renewal_items_key(request.run_id, request.target)
    if request.cursor:
        kept = state.get_json(key)
        if kept is not None:
            return [(ItemKind(kind), name) for kind, name in kept]
    items = common_items(primary, secondary)
    if len(items) > RENEWAL_CHUNK:
        state.put_json(key, [[str(kind), name] for kind, name in items])
    return items


def align_renewal_chunk(services: SyncServices, request: RenewalRequest) -> RenewalResult:
    """One chunk of the step. Nothing is written when the secondary holds a topology record
    newer than the pair's epoch (a failover happened since the pair was planned); a vault
    that cannot be read ends the step with an ``error`` in its section, never an exception."""
    primary, secondary = request.primary, request.secondary
    next_cursor: int | None = None
    with open_sessions(services, (primary, secondary)) as sessions:
        p, s = sessions[primary], sessions[secondary]
        try:
            newer = None if request.dry_run else newer_record(s, request.epoch)
            if newer is not None:
                logger.warning("full sync %s: renewal step for %s fenced: epoch %d there, "
                               "planned at %d", request.run_id, secondary, newer.epoch,
                               request.epoch)
                section = failed_section(primary, secondary, {
                    "code": FENCED_CODE,
                    "message": fenced_message(secondary, newer, request.epoch)})
            else:
                items = _items(services.state, request, p, s)
                chunk = items[request.cursor:request.cursor + RENEWAL_CHUNK]
                section = align_chunk(p, s, chunk, epoch=request.epoch,
                                      dry_run=request.dry_run, first=request.cursor == 0)
                end = request.cursor + len(chunk)
                next_cursor = end if end < len(items) else None
        except KvdrError as exc:
            section = failed_section(primary, secondary, exc.to_dict())
        calls = calls_of(sessions)
    return RenewalResult(secondary, section, next_cursor, calls)
