"""A pair's renewal step (decision 9), one chunk at a time: the secondary's copies follow the
primary's policies, disarmed (:func:`kvdr.renewal.align.align_renewal`); the issuers the two
vaults define are compared, and every key both hold is checked for versions the copy lacks
(:mod:`kvdr.renewal.compare`). Its result is one part of the report's ``renewal`` section
(:mod:`kvdr.sync.renewal_section`).

Bounded: a vault may hold thousands of certificates and keys, so the step works on at most
:data:`RENEWAL_CHUNK` of them per activity and the orchestrator loops with a cursor. A chunk
costs at most about six calls per item (the two policies, a ledger entry and a policy write,
a key's two version listings), so ~3,000 calls — a few seconds of the vaults' 4,000
operations per 10 s, minutes at worst with every call's latency — plus, in the first chunk,
the primary's unfinished arming (entries a hand-over left, normally none), the contacts and
the issuers. The items and both vaults' ledgers come from the inventories the pair's plan
listed anyway, so a vault of many secrets pays no second listing. Well inside a function's
timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kvdr.errors import KvdrError
from kvdr.renewal.align import Item, align_renewal
from kvdr.renewal.compare import compare_issuers, issuers_of, key_divergence
from kvdr.renewal.ledger import Ledger
from kvdr.sync.renewal_section import MAX_KEYS_LISTED
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession

RENEWAL_CHUNK = 500  # certificates and keys per activity


def align_chunk(primary: VaultSession, secondary: VaultSession, items: Sequence[Item], *,
                epoch: int, dry_run: bool, first: bool,
                ledgers: tuple[Ledger, Ledger] | None = None) -> dict[str, Any]:
    """Align ``items`` (both vaults hold them; :func:`kvdr.renewal.align.common_items`) and
    return this chunk's part of the secondary's section. ``first``: also what is done once
    per pair (the primary's unfinished arming, the contacts, the issuers). ``ledgers``: the
    primary's and the secondary's, as the plan's inventories held them. ``dry_run`` reads
    and counts, writing nothing. A failure of one item, of the contacts or of a listing is
    recorded in the section, never raised; a vault that cannot be read at all raises."""
    alignment = align_renewal(primary, secondary, epoch=epoch, dry_run=dry_run, items=items,
                              vault_level=first,
                              primary_ledger=ledgers[0] if ledgers else None,
                              secondary_ledger=ledgers[1] if ledgers else None)
    issuers: list[dict[str, Any]] = []
    if first:
        try:
            issuers = [d.to_dict() for d in compare_issuers(issuers_of(primary),
                                                            issuers_of(secondary))]
        except KvdrError as exc:
            alignment.secondary.failures.append({
                "kind": "issuer", "name": "*", "code": exc.code,
                "message": f"could not list the certificate issuers: {exc.code}"})
    diverged: list[dict[str, Any]] = []
    for kind, name in items:
        if kind != ItemKind.KEY:
            continue
        try:
            found = key_divergence(primary, secondary, name)
        except KvdrError as exc:
            alignment.secondary.failed(kind, name, exc)
            continue
        if found is not None:
            diverged.append(found.to_dict())
    section = {**alignment.to_dict(), "issuers": issuers,
               "diverged_keys": diverged[:MAX_KEYS_LISTED]}
    if len(diverged) > MAX_KEYS_LISTED:  # the envelope stays far below Durable's 45 KB
        section["diverged_keys_omitted"] = len(diverged) - MAX_KEYS_LISTED
    return section
