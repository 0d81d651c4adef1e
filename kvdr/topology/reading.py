"""Who is primary: every vault's topology record read, with one rule for the vaults that fail.

The rule (decision 1), the same for every caller — status, the timers, the alert webhook, the
sync, failover and drill activities, the event path:

* the primary is the record with the highest epoch among the records read;
* a vault that cannot be reached (a ``vault.*`` error, or no answer within the caller's
  deadline) and a vault whose record does not parse (``topology.invalid``) hold no record that
  counts: both are left out of that choice alike. The read says which it was (``error_code``
  for an unreachable vault, ``unreadable`` for a bad record), because what a caller *does*
  next may differ: a bad record can be overwritten, an unreachable vault cannot be written;
* any other error is not a vault's state and propagates.

Read through probe sessions (:meth:`kvdr.services.Runtime.open_probe`: short timeouts, short
backoff), so a dead vault is known within seconds, not after a full retry schedule. Only
:func:`kvdr.topology.store.current_topology` writes: the initial record, when no vault holds
one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from kvdr.errors import TopologyError, VaultError
from kvdr.topology.record import TopologyRecord, TopologyView, assess_topology
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr.vault.session import VaultSession

__all__ = ["NO_ANSWER_CODE", "PRIMARY_READ_SECONDS", "PrimaryReading", "RecordRead",
           "TopologyReads", "current_primary", "probe_primary", "read_record", "read_records",
           "read_records_within", "read_topology"]

log = logging.getLogger(__name__)

PRIMARY_READ_SECONDS = 5.0  # a deadline for async triggers: well within a webhook's patience
NO_ANSWER_CODE = "vault.unreachable"  # a vault that did not answer within the deadline
UNREADABLE_CODE = "topology.invalid"


def read_topology(session: VaultSession) -> TopologyRecord | None:
    """The record held by this vault, or None when it has none. A record that cannot be parsed
    raises ``topology.invalid``; an unreachable vault raises its ``vault.*`` error."""
    secret = session.call_or_none(f"read secret '{TOPOLOGY_SECRET_NAME}'",
                                  session.secrets.get_secret, TOPOLOGY_SECRET_NAME)
    if secret is None or secret.value is None:
        return None
    return TopologyRecord.from_json(secret.value)


@dataclass(frozen=True)
class RecordRead:
    """What reading one vault's topology record gave: the record (None: none held, or none
    that counts), the code of the vault error that stopped the read (unreachable), or
    ``unreadable`` (the vault answered with a record that does not parse)."""

    region: str
    record: TopologyRecord | None = None
    error_code: str | None = None
    unreadable: bool = False

    @property
    def reachable(self) -> bool:
        return self.error_code is None

    @property
    def failed(self) -> bool:
        """Unreachable or unreadable: the rule treats both alike (no record that counts)."""
        return self.error_code is not None or self.unreadable

    @property
    def code(self) -> str | None:
        """Why the read failed, as an error code (None when it did not)."""
        return self.error_code or (UNREADABLE_CODE if self.unreadable else None)


@dataclass(frozen=True)
class PrimaryReading:
    primary: str
    epoch: int
    split_brain: bool = False


@dataclass(frozen=True)
class TopologyReads:
    """Every region's :class:`RecordRead`, in the order the regions were given."""

    reads: Mapping[str, RecordRead]

    def records(self) -> dict[str, TopologyRecord | None]:
        """The records that count per region (None: none held, unreachable or unreadable)."""
        return {region: read.record for region, read in self.reads.items()}

    def unreachable(self) -> dict[str, str]:
        return {r: read.error_code for r, read in self.reads.items() if read.error_code}

    def unreadable(self) -> tuple[str, ...]:
        return tuple(r for r, read in self.reads.items() if read.unreadable)

    def failed(self) -> dict[str, str]:
        """Unreachable and unreadable vaults alike, with the code of why."""
        return {r: read.code for r, read in self.reads.items() if read.code}

    def view(self) -> TopologyView | None:
        """The assessment of the records that count; None when none does."""
        records = self.records()
        if all(record is None for record in records.values()):
            return None
        return assess_topology(records)


def read_record(region: str, session: VaultSession) -> RecordRead:
    """One vault's record under the rule above."""
    try:
        return RecordRead(region, read_topology(session))
    except VaultError as exc:
        log.warning("topology: %s unreachable [%s]", region, exc.code)
        return RecordRead(region, error_code=exc.code)
    except TopologyError as exc:
        log.warning("topology: %s holds an unreadable record [%s]", region, exc.code)
        return RecordRead(region, unreadable=True)


def read_records(sessions: Mapping[str, VaultSession]) -> TopologyReads:
    """Every given vault's record, one after the other (the caller owns the sessions, so the
    calls it reports are its own)."""
    return TopologyReads({region: read_record(region, s) for region, s in sessions.items()})


def _read_with(open_probe: Callable[[str], VaultSession], region: str) -> RecordRead:
    session = open_probe(region)
    try:
        return read_record(region, session)
    finally:
        session.close()


def read_records_within(open_probe: Callable[[str], VaultSession], regions: Sequence[str],
                        seconds: float = PRIMARY_READ_SECONDS) -> TopologyReads:
    """Every vault's record, read in parallel (each through its own probe session, opened and
    closed on its thread); a vault that has not answered within ``seconds`` is unreachable
    (:data:`NO_ANSWER_CODE`). Blocking: async callers run it with ``asyncio.to_thread``."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(regions)),
                              thread_name_prefix="kvdr-topology-probe")
    try:
        futures = {pool.submit(_read_with, open_probe, region): region for region in regions}
        done, _late = wait(futures, timeout=seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe is left to time out
    answered = {futures[f]: f.result() for f in done}  # other errors than the rule's propagate
    for region in regions:
        if region not in answered:
            log.warning("topology: %s did not answer within %.1f s", region, seconds)
    return TopologyReads({region: answered.get(region) or RecordRead(region,
                                                                     error_code=NO_ANSWER_CODE)
                          for region in regions})


def current_primary(reads: TopologyReads) -> PrimaryReading | None:
    """The primary in force among the records that count; None when no record counts. A split
    brain is flagged, not hidden: each caller decides what it does with one."""
    view = reads.view()
    if view is None:
        return None
    return PrimaryReading(view.current.primary, view.current.epoch, view.split_brain)


def probe_primary(open_probe: Callable[[str], VaultSession], regions: Sequence[str],
                  seconds: float = PRIMARY_READ_SECONDS) -> PrimaryReading | None:
    """:func:`current_primary` of :func:`read_records_within`: what async triggers ask."""
    return current_primary(read_records_within(open_probe, regions, seconds))

