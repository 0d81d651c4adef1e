"""What renewal needs besides policies, compared across vaults without reading a value:

* **issuers** — renewal through an integrated CA needs the issuer definition in the vault that
  renews. Only presence and provider are compared: issuer credentials are write-only in the API,
  never read or copied (:func:`compare_issuers`);
* **keys** — key material moves only by backup/restore into a vault that lacks the name, so a key
  rotated in the primary cannot follow: :func:`key_divergence` says which copies hold an older
  version, and by how many versions and how long;
* **ownership** — exactly one vault, the primary, holds an armed renewal or rotation for an item
  (:func:`check_ownership`, the drill's and status's check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kvdr.renewal.ledger import Ledger
from kvdr.renewal.ownership import ItemPolicy
from kvdr.vault.inventory import ItemKind, format_time, to_utc
from kvdr.vault.session import VaultSession


@dataclass(frozen=True)
class IssuerDifference:
    """An issuer the primary defines that a secondary lacks (``secondary_provider`` None) or
    defines with another provider; or one only the secondary defines (``primary_provider``
    None)."""

    name: str
    primary_provider: str | None
    secondary_provider: str | None

    @property
    def problem(self) -> str:
        if self.secondary_provider is None:
            return "missing"
        if self.primary_provider is None:
            return "extra"
        return "different-provider"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "problem": self.problem,
                "primary_provider": self.primary_provider,
                "secondary_provider": self.secondary_provider}


def issuers_of(session: VaultSession) -> dict[str, str | None]:
    """Issuer name (lower case) -> provider: one list call, no credential read."""
    with session.mapped("list certificate issuers"):
        return {(p.name or "").lower(): p.provider
                for p in session.certificates.list_properties_of_issuers()}


def compare_issuers(primary: Mapping[str, str | None], secondary: Mapping[str, str | None]
                    ) -> list[IssuerDifference]:
    found = []
    for name in sorted(set(primary) | set(secondary)):
        mine, theirs = primary.get(name), secondary.get(name)
        if name not in secondary:
            found.append(IssuerDifference(name, mine or "", None))
        elif name not in primary:
            found.append(IssuerDifference(name, None, theirs or ""))
        elif (mine or "").lower() != (theirs or "").lower():
            found.append(IssuerDifference(name, mine or "", theirs or ""))
    return found


@dataclass(frozen=True)
class KeyDivergence:
    """A key whose copy holds an older version than the primary's latest."""

    name: str
    versions_behind: int           # primary versions created after the copy's version
    primary_latest: datetime | None
    copy_latest: datetime | None

    @property
    def seconds_behind(self) -> float | None:
        if self.primary_latest is None or self.copy_latest is None:
            return None
        return max(0.0, (self.primary_latest - self.copy_latest).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions_behind": self.versions_behind,
                "seconds_behind": self.seconds_behind,
                "primary_latest": format_time(self.primary_latest),
                "copy_latest": format_time(self.copy_latest)}


def key_divergence(primary: VaultSession, secondary: VaultSession, name: str
                   ) -> KeyDivergence | None:
    """None when the copy's latest version is the primary's latest (or either lacks the key).
    Version lists only: no key material is read."""
    with primary.mapped(f"list versions of key '{name}'"):
        mine = [(to_utc(p.created_on), (p.version or "").lower())
                for p in primary.keys.list_properties_of_key_versions(name)]
    with secondary.mapped(f"list versions of key '{name}'"):
        theirs = [(to_utc(p.created_on), (p.version or "").lower())
                  for p in secondary.keys.list_properties_of_key_versions(name)]
    if not mine or not theirs:
        return None
    # by version id, not by "the latest": versions created in one second tie in a list, and a
    # restored copy holds the primary's versions under the same ids
    held = {version for _, version in theirs}
    shared = [created for created, version in mine if version in held and created is not None]
    newest_shared = max(shared) if shared else None
    behind = [created for created, version in mine if version not in held and (
        newest_shared is None or created is None or created >= newest_shared)]
    if not behind:
        return None
    latest = [created for created, _ in mine if created is not None]
    copy = [created for created, _ in theirs if created is not None]
    return KeyDivergence(name, len(behind), max(latest) if latest else None,
                         max(copy) if copy else None)

@dataclass(frozen=True)
class OwnershipProblem:
    kind: ItemKind
    name: str
    armed_in: tuple[str, ...]   # the vaults that renew/rotate it on their own
    problem: str                # armed-copy | primary-disarmed

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "name": self.name, "armed_in": list(self.armed_in),
                "problem": self.problem}

    def describe(self) -> str:
        if self.problem == "armed-copy":
            return (f"{self.kind} '{self.name}' renews on its own in "
                    f"{', '.join(self.armed_in)}, not only in the primary")
        return (f"{self.kind} '{self.name}': the primary's renewal is disarmed (kvdr keeps its "
                "armed form; a hand-over did not finish)")


def check_ownership(primary: str, policies: Mapping[str, Mapping[tuple[ItemKind, str],
                                                                  ItemPolicy]],
                    ledgers: Mapping[str, Ledger],
                    names: Mapping[tuple[ItemKind, str], str] | None = None
                    ) -> list[OwnershipProblem]:
    """Exactly one vault — the primary — holds an armed action for each item. ``policies``:
    per region, what each reachable vault holds (by (kind, lower-case name)); ``ledgers``: per
    region, its renewal ledger; ``names``: the items' names as the vault spells them. An item
    no vault arms and no ledger holds armed is fine: nobody is meant to renew it."""
    problems = []
    keys = sorted({k for held in policies.values() for k in held}, key=lambda k: (k[0], k[1]))
    for key in keys:
        armed_in = tuple(sorted(r for r, held in policies.items()
                                if key in held and held[key].renewal.armed))
        label = (names or {}).get(key, key[1])
        if any(r != primary for r in armed_in):
            problems.append(OwnershipProblem(key[0], label, armed_in, "armed-copy"))
            continue
        if primary in armed_in or key not in policies.get(primary, {}):
            continue
        meant = any(key in ledger and ledger[key].policy.armed for ledger in ledgers.values())
        if meant:
            problems.append(OwnershipProblem(key[0], label, armed_in, "primary-disarmed"))
    return problems

