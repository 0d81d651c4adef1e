"""Who renews: disarming copies, arming the primary, and handing renewal over at a switch.

Every function here works on one vault session at a time, reads policies (never a value), and
is idempotent: it compares, then writes only what differs, so a rerun after a crash finishes
the job without a second write.

* :func:`disarm_item` — a vault that is not the primary: first the ledger entry (the armed form,
  :mod:`kvdr.renewal.ledger`), then the policy's disarmed form. A crash between the two leaves an
  entry and an armed policy, which the next alignment disarms; never a disarmed policy whose
  armed form is lost.
* :func:`arm_item` — the primary: the entry's armed form, then the entry marked ``armed``.
* :func:`complete_arming` — the primary's entries still marked ``disarmed`` (a hand-over that
  did not finish): armed, when the vault still holds exactly the disarmed form kvdr wrote;
  otherwise someone changed the policy since, and it is left alone (marked ``armed``, reported).
* :func:`hand_over` — a switch: arm the new primary, disarm every other vault it can reach.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.keys import KeyRotationPolicy

from kvdr.errors import KvdrError
from kvdr.renewal.ledger import EntryState, Ledger, LedgerEntry, read_ledger, write_entry
from kvdr.renewal.policy import RenewalPolicy, policy_shape, with_actions
from kvdr.vault.inventory import Inventory, ItemKind
from kvdr.vault.links import is_reserved_name
from kvdr.vault.session import VaultSession

log = logging.getLogger(__name__)

RENEWING_KINDS = (ItemKind.CERTIFICATE, ItemKind.KEY)
MAX_LISTED = 50


@dataclass(frozen=True)
class ItemPolicy:
    """One item's policy as a vault holds it: the lifetime actions, and for certificates the
    SDK's whole policy (the rest of it replicates too)."""

    renewal: RenewalPolicy
    certificate: CertificatePolicy | None = None

    @property
    def shape(self) -> dict[str, Any]:
        return policy_shape(self.certificate)


def read_policy(session: VaultSession, kind: ItemKind, name: str) -> ItemPolicy | None:
    """The item's policy in this vault; None when the item does not exist there."""
    if ItemKind(kind) == ItemKind.CERTIFICATE:
        policy = session.call_or_none(f"get certificate policy '{name}'",
                                      session.certificates.get_certificate_policy, name)
        return None if policy is None else ItemPolicy(RenewalPolicy.of_certificate(policy),
                                                      policy)
    rotation = session.call_or_none(f"get key rotation policy '{name}'",
                                    session.keys.get_key_rotation_policy, name)
    return None if rotation is None else ItemPolicy(RenewalPolicy.of_key(rotation))


def write_policy(session: VaultSession, kind: ItemKind, name: str, renewal: RenewalPolicy,
                 shape_from: CertificatePolicy | None = None) -> None:
    """Set the item's lifetime actions (and, for a certificate, the rest of ``shape_from``,
    the primary's policy)."""
    if ItemKind(kind) == ItemKind.CERTIFICATE:
        base = shape_from or CertificatePolicy()
        session.call(f"update certificate policy '{name}'",
                     session.certificates.update_certificate_policy, name,
                     with_actions(base, renewal))
        return
    session.call(f"update key rotation policy '{name}'", session.keys.update_key_rotation_policy,
                 name, KeyRotationPolicy(), lifetime_actions=renewal.key_actions(),
                 expires_in=renewal.expires_in)


def keep_armed_form(session: VaultSession, kind: ItemKind, name: str, armed: RenewalPolicy, *,
                    epoch: int, held: LedgerEntry | None) -> LedgerEntry | None:
    """The first half of disarming (before the copy's policy is written, or a copy imported
    disarmed): this vault's ledger keeps ``armed`` as the item's armed form. Written when the
    form is armed or an entry exists already (``held``, what the ledger holds), and only when
    it differs. Returns the entry the ledger now holds: ``held`` itself when nothing was
    written, None when there is none."""
    kind = ItemKind(kind)
    if not armed.armed and held is None:
        return None
    entry = LedgerEntry(kind, name, armed, EntryState.DISARMED, epoch)
    return entry if write_entry(session, entry, held) else held


def disarm_item(session: VaultSession, kind: ItemKind, name: str, armed: RenewalPolicy, *,
                epoch: int, ledger: Ledger, current: ItemPolicy | None = None,
                shape_from: CertificatePolicy | None = None) -> list[str]:
    """Make this (non-primary) vault's copy hold ``armed``'s disarmed form, the armed form kept
    in its ledger. ``shape_from``: the primary's certificate policy, whose other fields the copy
    takes too. Returns what was written (``ledger``, ``policy``)."""
    kind = ItemKind(kind)
    written: list[str] = []
    entry = keep_armed_form(session, kind, name, armed, epoch=epoch,
                            held=ledger.get((kind, name.lower())))
    if entry is not None:
        if entry is not ledger.get(entry.key):
            written.append("ledger")
        ledger[entry.key] = entry
    current = current or read_policy(session, kind, name)
    if current is None:
        return written
    want = armed.disarmed()
    if not want.actions:
        # the SDK cannot send an empty list (the service then keeps, or defaults to, a
        # notification): any unarmed form is the disarmed form of "no actions"
        want = current.renewal.disarmed()
    shape_differs = shape_from is not None and policy_shape(shape_from) != current.shape
    if not current.renewal.same_as(want) or shape_differs:
        write_policy(session, kind, name, want, shape_from or current.certificate)
        written.append("policy")
    return written


def arm_item(session: VaultSession, entry: LedgerEntry, *, epoch: int,
             current: ItemPolicy | None = None) -> list[str]:
    """Give this (primary) vault the entry's armed form, then mark the entry ``armed``."""
    written: list[str] = []
    current = current or read_policy(session, entry.kind, entry.name)
    if current is None:
        return written
    if not current.renewal.same_as(entry.policy):
        write_policy(session, entry.kind, entry.name, entry.policy, current.certificate)
        written.append("policy")
    armed = LedgerEntry(entry.kind, entry.name, entry.policy, EntryState.ARMED, epoch)
    if write_entry(session, armed, entry):
        written.append("ledger")
    return written


@dataclass
class RenewalChanges:
    """What one pass over a vault did, with the names (capped) of what it could not do."""

    region: str
    armed: int = 0
    disarmed: int = 0
    policies_updated: int = 0
    ledger_written: int = 0
    left_alone: list[str] = field(default_factory=list)  # "kind/name: why"
    failures: list[dict[str, str]] = field(default_factory=list)
    omitted: int = 0

    def failed(self, kind: ItemKind, name: str, exc: KvdrError) -> None:
        if len(self.failures) < MAX_LISTED:
            self.failures.append({"kind": str(kind), "name": name, "code": exc.code,
                                  "message": str(exc)[:300]})
        else:
            self.omitted += 1

    def count(self, written: Iterable[str], *, what: str) -> None:
        written = list(written)
        if "policy" in written:
            self.policies_updated += 1
            if what == "arm":
                self.armed += 1
            elif what == "disarm":
                self.disarmed += 1
        self.ledger_written += "ledger" in written

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "armed": self.armed, "disarmed": self.disarmed,
                "policies_updated": self.policies_updated,
                "ledger_written": self.ledger_written, "left_alone": list(self.left_alone),
                "failures": list(self.failures), "omitted": self.omitted}


def complete_arming(session: VaultSession, *, epoch: int, ledger: Ledger | None = None,
                    changes: RenewalChanges | None = None) -> RenewalChanges:
    """Arm every entry this primary still holds as ``disarmed`` (see the module docstring)."""
    changes = changes or RenewalChanges(session.region)
    ledger = read_ledger(session) if ledger is None else ledger
    for entry in list(ledger.values()):
        if entry.state != EntryState.DISARMED:
            continue
        try:
            current = read_policy(session, entry.kind, entry.name)
            if current is None:
                continue  # the item is gone: nothing to renew
            if not current.renewal.is_disarmed_form_of(entry.policy) and \
                    not current.renewal.same_as(entry.policy):
                if len(changes.left_alone) < MAX_LISTED:
                    changes.left_alone.append(
                        f"{entry.kind}/{entry.name}: its policy changed since kvdr disarmed "
                        "it; left as it is")
                write_entry(session, LedgerEntry(entry.kind, entry.name,
                                                 current.renewal, EntryState.ARMED, epoch), entry)
                continue
            changes.count(arm_item(session, entry, epoch=epoch, current=current), what="arm")
        except KvdrError as exc:
            changes.failed(entry.kind, entry.name, exc)
    return changes


def renewing_names_in(inventory: Inventory) -> dict[ItemKind, list[str]]:
    """The certificates and keys (not a certificate's backing key) of an inventory, by kind."""
    return {kind: sorted((p.name for p in inventory.of_kind(kind)
                          if not p.managed and not is_reserved_name(p.name)), key=str.lower)
            for kind in RENEWING_KINDS}


def renewing_names(session: VaultSession) -> dict[ItemKind, list[str]]:
    """:func:`renewing_names_in` of this vault's certificates and keys (list calls)."""
    return renewing_names_in(session.inventory(RENEWING_KINDS, include_deleted=False))


def disarm_vault(session: VaultSession, *, epoch: int,
                 changes: RenewalChanges | None = None) -> RenewalChanges:
    """Disarm every armed certificate and key of a vault that stops being the primary: its
    own policies are the armed forms the ledger keeps."""
    changes = changes or RenewalChanges(session.region)
    ledger = read_ledger(session)
    for kind, names in renewing_names(session).items():
        for name in names:
            try:
                current = read_policy(session, kind, name)
                if current is None or not current.renewal.armed:
                    continue
                changes.count(disarm_item(session, kind, name, current.renewal, epoch=epoch,
                                          ledger=ledger, current=current), what="disarm")
            except KvdrError as exc:
                changes.failed(kind, name, exc)
    return changes


@dataclass
class HandOver:
    """A switch's renewal hand-over: the new primary armed, the others disarmed, the vaults
    that could not be reached (disarmed by the next sync that reaches them)."""

    primary: RenewalChanges
    others: list[RenewalChanges] = field(default_factory=list)
    unreached: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.primary.failures and not any(o.failures for o in self.others)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "primary": self.primary.to_dict(),
                "others": [o.to_dict() for o in self.others], "unreached": dict(self.unreached)}


def hand_over(new_primary: VaultSession, others: Mapping[str, VaultSession | None], *,
              epoch: int) -> HandOver:
    """Disarm the other vaults first (at most one vault armed at any moment), then arm the new
    primary from its ledger. ``others`` maps a region to its session, or None when it could
    not be reached."""
    result = HandOver(RenewalChanges(new_primary.region))
    for region, session in others.items():
        if session is None:
            result.unreached[region] = "vault.unreachable"
            continue
        try:
            result.others.append(disarm_vault(session, epoch=epoch))
        except KvdrError as exc:  # the vault went away mid-way: the next sync finishes it
            result.unreached[region] = exc.code
    complete_arming(new_primary, epoch=epoch, changes=result.primary)
    log.info("renewal hand-over at epoch %d: %s armed %d; %s", epoch, new_primary.region,
             result.primary.armed, ", ".join(f"{o.region} disarmed {o.disarmed}"
                                             for o in result.others) or "no other vault")
    return result
