"""A sync's renewal step: make a secondary's copies follow the primary's policies, disarmed.

For every certificate and key that both vaults hold (a copy that does not exist yet is imported
disarmed by the copier, :mod:`kvdr.sync.copy_certificates`): the secondary's ledger keeps the
primary's armed form, and its policy becomes the disarmed form — for a certificate, the rest of
the primary's policy too (subject, key properties, validity, issuer), so a policy change in the
primary replicates. Certificate contacts replicate as a whole. The primary's own unfinished
hand-over is completed first (:func:`kvdr.renewal.ownership.complete_arming`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvdr.errors import KvdrError
from kvdr.renewal.ledger import Ledger, LedgerEntry, armed_form, ledger_from, read_ledger
from kvdr.renewal.ownership import (
    RENEWING_KINDS,
    RenewalChanges,
    complete_arming,
    disarm_item,
    read_policy,
    renewing_names_in,
)
from kvdr.vault.inventory import Inventory, ItemKind
from kvdr.vault.session import VaultSession


@dataclass
class Alignment:
    """What a renewal step did to one secondary (and to the primary's unfinished arming)."""

    primary: RenewalChanges
    secondary: RenewalChanges
    contacts: str = "unchanged"  # unchanged | copied | cleared

    def to_dict(self) -> dict[str, Any]:
        return {"primary": self.primary.to_dict(), "secondary": self.secondary.to_dict(),
                "contacts": self.contacts}


def _contact_set(contacts: Any) -> list[tuple[str, str, str]]:
    return sorted((c.email or "", c.name or "", c.phone or "") for c in contacts or ())


def align_contacts(primary: VaultSession, secondary: VaultSession, *,
                   dry_run: bool = False) -> str:
    """Make the secondary's certificate contacts the primary's (``dry_run``: say what that
    would do, writing nothing)."""
    want = primary.call_or_none("get certificate contacts", primary.certificates.get_contacts)
    held = secondary.call_or_none("get certificate contacts",
                                  secondary.certificates.get_contacts)
    if _contact_set(want) == _contact_set(held):
        return "unchanged"
    if not want:
        if not dry_run:
            secondary.call("delete certificate contacts",
                           secondary.certificates.delete_contacts)
        return "cleared"
    if not dry_run:
        secondary.call("set certificate contacts", secondary.certificates.set_contacts,
                       list(want))
    return "copied"


Item = tuple[ItemKind, str]


def common_in(primary: Inventory, secondary: Inventory) -> list[Item]:
    """The certificates and keys both inventories hold (names as the primary spells them), in
    a stable order: what a renewal step aligns."""
    theirs = renewing_names_in(secondary)
    found: list[Item] = []
    for kind, names in renewing_names_in(primary).items():
        present = {n.lower() for n in theirs[kind]}
        found += [(kind, name) for name in names if name.lower() in present]
    return found


def common_items(primary: VaultSession, secondary: VaultSession) -> list[Item]:
    """:func:`common_in` of both vaults' certificates and keys (list calls)."""
    return common_in(primary.inventory(RENEWING_KINDS, include_deleted=False),
                     secondary.inventory(RENEWING_KINDS, include_deleted=False))


@dataclass(frozen=True)
class RenewalInputs:
    """What a sync's renewal step needs to know before it reads any policy, taken from the
    inventories the pair's plan listed anyway (so a vault of 10,000 secrets does not pay a
    second listing for the dozen ledger entries among them): the items both vaults hold and
    each vault's ledger."""

    items: tuple[Item, ...]
    primary_ledger: Ledger
    secondary_ledger: Ledger

    @classmethod
    def of(cls, primary: Inventory, secondary: Inventory) -> RenewalInputs:
        def ledger(inventory: Inventory) -> Ledger:
            return ledger_from((p.name, p.enabled, p.tags)
                               for p in inventory.of_kind(ItemKind.SECRET))
        return cls(tuple(common_in(primary, secondary)), ledger(primary), ledger(secondary))

    def to_dict(self) -> dict[str, Any]:
        return {"items": [[str(kind), name] for kind, name in self.items],
                "primary_ledger": [e.tags() for e in self.primary_ledger.values()],
                "secondary_ledger": [e.tags() for e in self.secondary_ledger.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalInputs:
        def ledger(raw: Any) -> Ledger:
            entries = (LedgerEntry.from_tags(tags) for tags in raw or ())
            return {e.key: e for e in entries if e is not None}
        return cls(tuple((ItemKind(kind), str(name)) for kind, name in data.get("items") or ()),
                   ledger(data.get("primary_ledger")), ledger(data.get("secondary_ledger")))


def align_renewal(primary: VaultSession, secondary: VaultSession, *, epoch: int,
                  dry_run: bool = False, items: Sequence[Item] | None = None,
                  vault_level: bool = True, primary_ledger: Ledger | None = None,
                  secondary_ledger: Ledger | None = None) -> Alignment:
    """The renewal step of one pair (see the module docstring). ``dry_run`` reads and counts
    what would change, writing nothing. ``items`` (default: :func:`common_items`) lets a
    caller align a large vault in chunks; ``vault_level`` False leaves out what is done once
    per pair (the primary's unfinished arming, the contacts) for the chunks after the first.
    ``primary_ledger``/``secondary_ledger``: the vaults' ledgers when the caller has them (a
    sync reads them from the inventories it listed); otherwise each is listed here."""
    result = Alignment(RenewalChanges(primary.region), RenewalChanges(secondary.region))
    if primary_ledger is None:
        primary_ledger = read_ledger(primary)
    if vault_level and not dry_run:
        complete_arming(primary, epoch=epoch, ledger=primary_ledger, changes=result.primary)
    ledger = read_ledger(secondary) if secondary_ledger is None else dict(secondary_ledger)
    for kind, name in common_items(primary, secondary) if items is None else items:
        try:
            source = read_policy(primary, kind, name)
            if source is None:
                continue
            # the primary's arming failed: its true form is its ledger's
            armed = armed_form(source.renewal, primary_ledger.get((kind, name.lower())))
            current = read_policy(secondary, kind, name)
            if current is None:
                continue
            if dry_run:
                if not current.renewal.same_as(armed.disarmed()) or \
                        source.shape != current.shape:
                    result.secondary.disarmed += current.renewal.armed
                    result.secondary.policies_updated += 1
                continue
            result.secondary.count(disarm_item(
                secondary, kind, name, armed, epoch=epoch, ledger=ledger, current=current,
                shape_from=source.certificate), what="disarm" if current.renewal.armed
                else "update")
        except KvdrError as exc:
            result.secondary.failed(kind, name, exc)
    if vault_level:
        try:
            result.contacts = align_contacts(primary, secondary, dry_run=dry_run)
        except KvdrError as exc:
            result.contacts = f"failed: {exc.code}"
    return result
