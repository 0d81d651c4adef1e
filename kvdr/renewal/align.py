"""A sync's renewal step: make a secondary's copies follow the primary's policies, disarmed.

For every certificate and key that both vaults hold (a copy that does not exist yet is imported
disarmed by the copier, :mod:`kvdr.sync.copy_certificates`): the secondary's ledger keeps the
primary's armed form, and its policy becomes the disarmed form — for a certificate, the rest of
the primary's policy too (subject, key properties, validity, issuer), so a policy change in the
primary replicates. Certificate contacts replicate as a whole. The primary's own unfinished
hand-over is completed first (:func:`kvdr.renewal.ownership.complete_arming`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvdr.errors import KvdrError
from kvdr.renewal.ledger import EntryState, read_ledger
from kvdr.renewal.ownership import (
    RenewalChanges,
    complete_arming,
    disarm_item,
    read_policy,
    renewing_names,
)
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


def align_contacts(primary: VaultSession, secondary: VaultSession) -> str:
    """Make the secondary's certificate contacts the primary's."""
    want = primary.call_or_none("get certificate contacts", primary.certificates.get_contacts)
    held = secondary.call_or_none("get certificate contacts",
                                  secondary.certificates.get_contacts)
    if _contact_set(want) == _contact_set(held):
        return "unchanged"
    if not want:
        secondary.call("delete certificate contacts", secondary.certificates.delete_contacts)
        return "cleared"
    secondary.call("set certificate contacts", secondary.certificates.set_contacts, list(want))
    return "copied"


def align_renewal(primary: VaultSession, secondary: VaultSession, *, epoch: int,
                  dry_run: bool = False) -> Alignment:
    """The renewal step of one pair (see the module docstring). ``dry_run`` reads and counts
    what would change, writing nothing."""
    result = Alignment(RenewalChanges(primary.region), RenewalChanges(secondary.region))
    primary_ledger = read_ledger(primary)
    if not dry_run:
        complete_arming(primary, epoch=epoch, ledger=primary_ledger, changes=result.primary)
    ledger = read_ledger(secondary)
    theirs = renewing_names(secondary)
    for kind, names in renewing_names(primary).items():
        present = {n.lower() for n in theirs[kind]}
        for name in names:
            if name.lower() not in present:
                continue
            try:
                source = read_policy(primary, kind, name)
                if source is None:
                    continue
                armed = source.renewal
                entry = primary_ledger.get((kind, name.lower()))
                if entry is not None and entry.state == EntryState.DISARMED and \
                        armed.is_disarmed_form_of(entry.policy):
                    armed = entry.policy  # the primary's arming failed: its true form
                current = read_policy(secondary, kind, name)
                if current is None:
                    continue
                if dry_run:
                    if not current.renewal.same_as(armed.disarmed()):
                        result.secondary.disarmed += current.renewal.armed
                        result.secondary.policies_updated += 1
                    continue
                result.secondary.count(disarm_item(
                    secondary, kind, name, armed, epoch=epoch, ledger=ledger, current=current,
                    shape_from=source.certificate), what="disarm" if current.renewal.armed
                    else "update")
            except KvdrError as exc:
                result.secondary.failed(kind, name, exc)
    if not dry_run:
        try:
            result.contacts = align_contacts(primary, secondary)
        except KvdrError as exc:
            result.contacts = f"failed: {exc.code}"
    return result
