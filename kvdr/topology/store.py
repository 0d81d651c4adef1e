"""Where the topology record lives: the reserved secret ``kvdr-topology`` in every vault.

Its value is :meth:`TopologyRecord.to_json`; its content type ``application/json`` and the tag
``kvdr-record = topology`` mark it as kvdr's. Readers take the highest epoch among the vaults
they reach, under one rule for the vaults that fail (:mod:`kvdr.topology.reading`). Writing
is idempotent: a vault that already holds the record gets no new version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from kvdr.config.schema import Config
from kvdr.errors import TopologyError, VaultError
from kvdr.topology.reading import (
    NO_ANSWER_CODE,
    RecordRead,
    TopologyReads,
    read_records,
    read_topology,
)
from kvdr.topology.record import (
    TOPOLOGY_CONTENT_TYPE,
    TopologyRecord,
    TopologyView,
    assess_topology,
    initial_record,
    precedence,
)
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr.vault.reserved import write_once
from kvdr.vault.session import VaultSession

__all__ = ["FENCED_CODE", "RECORD_TAG", "TOPOLOGY_SECRET_CONTENT_TYPE", "current_topology",
           "fenced_message", "newer_record", "read_topology", "write_topology", "write_winner"]

log = logging.getLogger(__name__)

TOPOLOGY_SECRET_CONTENT_TYPE = TOPOLOGY_CONTENT_TYPE
RECORD_TAG = ("kvdr-record", "topology")
FENCED_CODE = "topology.fenced"


def newer_record(session: VaultSession, epoch: int) -> TopologyRecord | None:
    """The fence (decision 1), one read: this vault's record when its epoch is above ``epoch``
    — a failover or failback happened after the caller read the topology, so the caller must
    not write here — else None (also when the vault holds no record)."""
    record = read_topology(session)
    return record if record is not None and record.epoch > epoch else None


def fenced_message(region: str, record: TopologyRecord, epoch: int) -> str:
    return (f"fenced: {region} holds topology epoch {record.epoch} (primary {record.primary}), "
            f"newer than epoch {epoch} this work was planned at; a failover or failback "
            "happened since, so nothing was written — run the sync again from the current "
            "primary")


def write_topology(session: VaultSession, record: TopologyRecord, *,
                   unless_outranked: bool = False) -> bool:
    """Store ``record`` in this vault; nothing is written when it already holds it, nor
    (``unless_outranked``) when it holds a record the rule puts first (a higher epoch, or a
    rival at this epoch that switched earlier: settling decides, not the last writer).
    Returns whether the vault holds ``record`` now."""
    try:
        current = read_topology(session)
    except TopologyError:
        current = None  # unreadable: overwrite it with a good record
    if current == record:
        return True
    if unless_outranked and current is not None and precedence(current) < precedence(record):
        log.info("topology record (primary %s, epoch %d) not written to %s: it holds primary "
                 "%s at epoch %d, which the rule puts first", record.primary, record.epoch,
                 session.region, current.primary, current.epoch)
        return False

    def send() -> None:
        # no SDK retry: azure-core re-sends a PUT whose answer was lost, a second version
        session.secrets.set_secret(TOPOLOGY_SECRET_NAME, record.to_json(),
                                   content_type=TOPOLOGY_SECRET_CONTENT_TYPE,
                                   tags=dict([RECORD_TAG]), retry_total=0)

    def landed() -> bool:
        try:
            return read_topology(session) == record
        except TopologyError:
            return False

    write_once(session, f"write secret '{TOPOLOGY_SECRET_NAME}'", send, landed)
    log.info("topology record (primary %s, epoch %d) written to %s", record.primary,
             record.epoch, session.region)
    return True


def write_winner(sessions: Mapping[str, VaultSession], reads: TopologyReads,
                 winner: TopologyRecord, *, rivals_only: bool = False
                 ) -> tuple[tuple[str, ...], dict[str, str]]:
    """Write ``winner`` (the rule's pick among ``reads``) to each reachable vault read holding
    another record (``rivals_only``: only a rival at the winner's epoch). Returns the vaults
    rewritten and those that failed (region -> code)."""
    unreached = dict(reads.failed())
    rewritten = []
    for region, read in reads.reads.items():
        if not read.reachable or read.record == winner or region not in sessions:
            continue
        if rivals_only and (read.record is None or read.record.epoch != winner.epoch):
            continue
        try:
            if not write_topology(sessions[region], winner, unless_outranked=True):
                continue  # a newer switch landed since the read: it rules
        except VaultError as exc:
            log.warning("topology: the winner (primary %s, epoch %d) not written to %s [%s]",
                        winner.primary, winner.epoch, region, exc.code)
            unreached[region] = exc.code
            continue
        rewritten.append(region)
        unreached.pop(region, None)  # an unreadable record, overwritten
    return tuple(rewritten), unreached


def current_topology(config: Config, sessions: Mapping[str, VaultSession], *,
                     now: datetime | None = None) -> TopologyView:
    """The topology view under the rule above (a region without a session is unreachable).
    When no vault holds a record that counts, write the initial record for
    ``topology.initial_primary`` (epoch 1) to every vault that answered — an unreadable record
    is overwritten — and return it."""
    reads = dict(read_records({r: sessions[r] for r in config.region_names if r in sessions})
                 .reads)
    for region in config.region_names:
        reads.setdefault(region, RecordRead(region, error_code=NO_ANSWER_CODE))
    found = TopologyReads({region: reads[region] for region in config.region_names})
    view = found.view()
    if view is not None and view.split_brain:
        # two runbooks switched at once: settle it here under the one rule, no operator
        rewritten, _failed = write_winner(sessions, found, view.current, rivals_only=True)
        log.warning("topology: split brain at epoch %d settled for %s by a reader (rewrote "
                    "%s)", view.current.epoch, view.current.primary,
                    ", ".join(rewritten) or "nothing")
        records = found.records()
        records.update({region: view.current for region in rewritten})
        return assess_topology(records)
    if view is not None:
        return view
    reachable = [region for region, read in found.reads.items() if read.reachable]
    if not reachable:
        raise TopologyError("no vault could be reached to read the topology record; check the "
                            "vault URLs, network and kvdr's role", code="topology.missing")
    record = initial_record(config.topology.initial_primary, changed_at=now or datetime.now(UTC))
    records = found.records()
    for region in reachable:
        try:
            write_topology(sessions[region], record)
            records[region] = record
        except VaultError as exc:
            log.warning("topology: initial record not written to %s [%s]", region, exc.code)
    if all(r is None for r in records.values()):
        raise TopologyError("the initial topology record could not be written to any vault",
                            code="topology.missing")
    return assess_topology(records)
