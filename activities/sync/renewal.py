"""A pair's renewal step (:meth:`activities.sync.SyncActivities.align_renewal`): fenced like a
batch, one chunk of :func:`kvdr.sync.renewal_step.align_chunk` per call, on the items and
ledgers the pair's plan kept in the state store (taken from the inventories it listed)."""

from __future__ import annotations

import logging

from activities.services import SyncServices, calls_of, open_sessions
from activities.sync.store import renewal_inputs_key
from kvdr.errors import KvdrError
from kvdr.renewal.align import RenewalInputs, common_items
from kvdr.renewal.ledger import read_ledger
from kvdr.state.store import StateStore
from kvdr.sync.contracts import RenewalRequest, RenewalResult
from kvdr.sync.renewal_section import failed_section
from kvdr.sync.renewal_step import RENEWAL_CHUNK, align_chunk
from kvdr.topology.store import FENCED_CODE, fenced_message, newer_record
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)


def _inputs(state: StateStore, request: RenewalRequest, primary: VaultSession,
            secondary: VaultSession) -> RenewalInputs:
    """What the pair's plan kept from the inventories it listed; listed here only if the
    plan kept none (a dry run) or the state store lost it (each vault's ledger then costs a
    listing of all its secrets)."""
    kept = state.get_json(renewal_inputs_key(request.run_id, request.target))
    if kept is not None:
        return RenewalInputs.from_dict(kept)
    return RenewalInputs(tuple(common_items(primary, secondary)), read_ledger(primary),
                         read_ledger(secondary))


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
                inputs = _inputs(services.state, request, p, s)
                items = inputs.items
                chunk = items[request.cursor:request.cursor + RENEWAL_CHUNK]
                section = align_chunk(p, s, chunk, epoch=request.epoch,
                                      dry_run=request.dry_run, first=request.cursor == 0,
                                      ledgers=(inputs.primary_ledger, inputs.secondary_ledger))
                end = request.cursor + len(chunk)
                next_cursor = end if end < len(items) else None
        except KvdrError as exc:
            section = failed_section(primary, secondary, exc.to_dict())
        calls = calls_of(sessions)
    return RenewalResult(secondary, section, next_cursor, calls)
