"""The drill's renewal step (:class:`activities.drill.DrillActivities.check_renewal`): read
every reachable vault's certificate and key policies and its renewal ledger, check ownership,
and compare issuers and key versions between the primary and each secondary.

Reads only — policies, one list call for the ledger and one for the issuers, version lists of
the keys both vaults hold; never a value or an issuer credential. Paced by the sessions like
every vault call; the vaults are read side by side (one thread each), the items of one vault
one after another. What crosses back to the orchestrator is the checks, with their names capped
(:mod:`kvdr.drill.renewal`), whatever the vaults' size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from activities.services import ActivityServices, calls_of, open_sessions
from kvdr.drill.checks import CheckName, DrillCheck
from kvdr.drill.contracts import RenewalCheckRequest, RenewalCheckResult
from kvdr.drill.renewal import (
    MAX_ITEMS,
    compare_failed,
    issuers_check,
    key_versions_check,
    ownership_check,
)
from kvdr.errors import KvdrError
from kvdr.renewal.compare import (
    KeyDivergence,
    check_ownership,
    compare_issuers,
    issuers_of,
    key_divergence,
)
from kvdr.renewal.ledger import Ledger, read_ledger
from kvdr.renewal.ownership import ItemPolicy, read_policy, renewing_names
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)

ItemKey = tuple[ItemKind, str]


@dataclass
class VaultRenewal:
    """What one vault holds: each item's policy, its ledger, the items' names as spelled, the
    keys it holds (not a certificate's backing key), and the reads that failed."""

    region: str
    policies: dict[ItemKey, ItemPolicy] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=dict)
    names: dict[ItemKey, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    omitted: int = 0

    def failed(self, kind: str, name: str, exc: KvdrError) -> None:
        if len(self.unreadable) < MAX_ITEMS:
            self.unreadable.append({"region": self.region, "kind": kind, "name": name,
                                    "code": exc.code, "message": str(exc)[:300]})
        else:
            self.omitted += 1


def read_vault_renewal(session: VaultSession) -> VaultRenewal:
    """Every certificate's and key's policy in this vault and its ledger (a listing that fails
    leaves the whole vault unreadable; a policy read that fails, that item)."""
    found = VaultRenewal(session.region)
    try:
        found.ledger = read_ledger(session)
        names = renewing_names(session)
    except KvdrError as exc:
        found.failed("vault", session.region, exc)
        return found
    found.keys = list(names[ItemKind.KEY])
    for kind, listed in names.items():
        for name in listed:
            try:
                policy = read_policy(session, kind, name)
            except KvdrError as exc:
                found.failed(str(kind), name, exc)
                continue
            if policy is not None:  # gone since the listing, or a key without a policy
                found.policies[(kind, name.lower())] = policy
                found.names[(kind, name.lower())] = name
    return found


def _diverged_keys(primary: VaultSession, secondary: VaultSession, names: list[str]
                   ) -> list[KeyDivergence]:
    found = []
    for name in names:
        divergence = key_divergence(primary, secondary, name)
        if divergence is not None:
            found.append(divergence)
    return found


def _compare(primary: str, targets: tuple[str, ...], sessions: Mapping[str, VaultSession],
             read: Mapping[str, VaultRenewal]) -> list[DrillCheck]:
    """The issuer and key-version warnings of each secondary."""
    checks: list[DrillCheck] = []
    if not targets:
        return checks
    try:
        mine: dict[str, str | None] | None = issuers_of(sessions[primary])
    except KvdrError as exc:
        mine = None
        checks += [compare_failed(CheckName.ISSUERS, t, exc.to_dict()) for t in targets]
    for target in targets:
        if mine is not None:
            try:
                differences = compare_issuers(mine, issuers_of(sessions[target]))
                checks.append(issuers_check(target, primary, differences))
            except KvdrError as exc:
                checks.append(compare_failed(CheckName.ISSUERS, target, exc.to_dict()))
        theirs = {n.lower() for n in read[target].keys}
        common = [n for n in read[primary].keys if n.lower() in theirs]
        try:
            diverged = _diverged_keys(sessions[primary], sessions[target], common)
            checks.append(key_versions_check(target, primary, diverged, compared=len(common)))
        except KvdrError as exc:
            checks.append(compare_failed(CheckName.KEY_VERSIONS, target, exc.to_dict()))
    return checks


def check_renewal(services: ActivityServices, request: RenewalCheckRequest
                  ) -> RenewalCheckResult:
    """The ownership check over ``request.regions`` and the warnings of ``request.targets``."""
    regions = tuple(dict.fromkeys((*request.regions, *request.targets)))
    unreachable = [r for r in services.config.region_names if r not in regions]
    # issuers and key versions need the primary; the orchestrator names reachable ones only
    targets = tuple(t for t in request.targets if t != request.primary) \
        if request.primary in regions else ()
    with open_sessions(services, regions) as sessions:
        with ThreadPoolExecutor(max(1, len(regions)), thread_name_prefix="drill-renewal") as pool:
            futures = {r: pool.submit(read_vault_renewal, sessions[r]) for r in regions}
            read = {r: f.result() for r, f in futures.items()}
        checks = _compare(request.primary, targets, sessions, read)
        calls = calls_of(sessions)
    problems = check_ownership(request.primary, {r: v.policies for r, v in read.items()},
                               {r: v.ledger for r, v in read.items()},
                               {k: n for v in read.values() for k, n in v.names.items()})
    ownership = ownership_check(
        request.primary, problems, {r: len(v.policies) for r, v in read.items()},
        unreadable=[u for v in read.values() for u in v.unreadable],
        unreadable_omitted=sum(v.omitted for v in read.values()), unreachable=unreachable)
    logger.info("drill %s: renewal ownership: %s", request.run_id, ownership.message)
    return RenewalCheckResult((ownership, *checks), calls)
