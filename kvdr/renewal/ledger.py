"""The renewal ledger: where kvdr keeps the armed form of every policy it disarmed.

When kvdr disarms a copy's renewal (:mod:`kvdr.renewal.policy`), the primary's real policy must
survive in that vault, so that an unplanned failover can arm it there without the old primary.
It is kept in one reserved secret per item, ``kvdr-renewal-{c|k}-<hash of the name>``, whose
**tags** hold the entry — so the whole ledger is read with one paged list call, never a value
read, and the user's item keeps all of its own tags:

| tag | value |
| --- | --- |
| ``kvdr-record`` | ``renewal`` |
| ``kvdr-kind`` | ``certificate`` or ``key`` |
| ``kvdr-name`` | the item's name |
| ``kvdr-policy`` | the armed lifetime actions (:meth:`RenewalPolicy.encode`) |
| ``kvdr-state`` | ``disarmed``: this vault holds the disarmed form; ``armed``: kvdr armed it here |
| ``kvdr-epoch`` | the topology epoch the entry was written at (diagnostics) |

One secret per item means writers never race over a shared document (parallel batches, the
event path, a failover's hand-over), and an entry is written only when it changes (a new secret
version each time). Reserved names (``kvdr-*``) are never synced, reported or deleted by kvdr's
user syncs: each vault keeps its own ledger. The value repeats the tags as JSON for a person
reading it in the portal; it is no secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from kvdr.renewal.policy import RenewalPolicy
from kvdr.vault.inventory import ItemKind
from kvdr.vault.reserved import list_records, record_name, record_tags, write_record
from kvdr.vault.session import VaultSession

log = logging.getLogger(__name__)

LEDGER_PREFIX = "kvdr-renewal-"
RECORD_TAG = ("kvdr-record", "renewal")


class EntryState(StrEnum):
    DISARMED = "disarmed"  # this vault holds the disarmed form; the armed one is the entry's
    ARMED = "armed"        # kvdr armed the entry's policy here (this vault is or was primary)


def ledger_name(kind: ItemKind | str, name: str) -> str:
    """The reserved secret of one item's entry (:func:`kvdr.vault.reserved.record_name`)."""
    return record_name(LEDGER_PREFIX, kind, name)


@dataclass(frozen=True)
class LedgerEntry:
    kind: ItemKind
    name: str
    policy: RenewalPolicy  # the armed form: what the primary holds
    state: EntryState
    epoch: int = 0

    @property
    def key(self) -> tuple[ItemKind, str]:
        return (self.kind, self.name.lower())

    @property
    def secret_name(self) -> str:
        return ledger_name(self.kind, self.name)

    def tags(self) -> dict[str, str]:
        return {RECORD_TAG[0]: RECORD_TAG[1], "kvdr-kind": str(self.kind),
                "kvdr-name": self.name, "kvdr-policy": self.policy.encode(),
                "kvdr-state": str(self.state), "kvdr-epoch": str(self.epoch)}

    def same_content(self, other: LedgerEntry | None) -> bool:
        """Equal but for the epoch it was written at (no rewrite for a new epoch alone)."""
        return other is not None and (self.kind, self.name, self.policy.encode(), self.state) \
            == (other.kind, other.name, other.policy.encode(), other.state)

    @classmethod
    def from_tags(cls, tags: Mapping[str, str] | None) -> LedgerEntry | None:
        """The entry these tags hold; None when they are not a (valid) entry."""
        tags = tags or {}
        if tags.get(RECORD_TAG[0]) != RECORD_TAG[1]:
            return None
        try:
            kind = ItemKind(tags["kvdr-kind"])
            return cls(kind, tags["kvdr-name"], RenewalPolicy.decode(kind, tags["kvdr-policy"]),
                       EntryState(tags["kvdr-state"]), int(tags.get("kvdr-epoch") or 0))
        except (KeyError, ValueError):
            return None


Ledger = dict[tuple[ItemKind, str], LedgerEntry]


def ledger_from(listed: Iterable[tuple[str | None, bool | None, Mapping[str, str] | None]]
                ) -> Ledger:
    """The valid entries among listed secrets (name, enabled, tags): what a secrets listing
    already holds, so a caller that listed the vault's secrets anyway pays no call."""
    entries: Ledger = {}
    for name, enabled, tags in listed:
        if not (name or "").lower().startswith(LEDGER_PREFIX) or enabled is False:
            continue
        entry = LedgerEntry.from_tags(tags)
        if entry is not None and entry.secret_name == (name or "").lower():
            entries[entry.key] = entry
    return entries


def read_ledger(session: VaultSession) -> Ledger:
    """Every valid entry of this vault, by (kind, lower-case name): one paged list call (of
    every secret: a sync reads the entries from its inventory instead, :func:`ledger_from`)."""
    return ledger_from((p.name, p.enabled, p.tags)
                       for p in list_records(session, LEDGER_PREFIX, "list the renewal ledger"))


def read_entry(session: VaultSession, kind: ItemKind, name: str) -> LedgerEntry | None:
    """One item's entry, from its reserved secret's version list (where a whole ledger would
    cost a list of every secret of the vault: the copier and the event path ask for one item;
    no value is read). None when there is none, or it is disabled or not a valid entry for this
    item."""
    tags = record_tags(session, ledger_name(kind, name),
                       f"read renewal ledger entry for {kind} '{name}'")
    entry = LedgerEntry.from_tags(tags)
    return entry if entry is not None and entry.key == (ItemKind(kind), name.lower()) else None


def armed_form(current: RenewalPolicy, entry: LedgerEntry | None) -> RenewalPolicy:
    """What an item's policy is meant to be where it renews, from what a vault holds: its own
    policy, unless its ledger says it holds the disarmed form of the entry's (this vault was a
    copy, and the arming of a hand-over did not finish here) — then the entry's armed form."""
    if entry is not None and entry.state == EntryState.DISARMED and \
            current.is_disarmed_form_of(entry.policy):
        return entry.policy
    return current


def write_entry(session: VaultSession, entry: LedgerEntry,
                current: LedgerEntry | None = None) -> bool:
    """Store ``entry`` unless ``current`` (what the ledger holds) already says the same;
    returns whether a version was written. A soft-deleted entry is recovered first."""
    if entry.same_content(current):
        return False
    write_record(session, entry.secret_name, entry.tags(),
                 f"write renewal ledger entry for {entry.kind} '{entry.name}'",
                 value={"kind": str(entry.kind), "name": entry.name,
                        "policy": entry.policy.encode(), "state": str(entry.state),
                        "epoch": entry.epoch})
    log.info("renewal ledger: %s %s %s in %s", entry.kind, entry.name, entry.state,
             session.region)
    return True
