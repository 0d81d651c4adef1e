"""Per-item records kvdr keeps in a vault: one reserved secret per item whose TAGS hold the record.

The renewal ledger (:mod:`kvdr.renewal.ledger`) and the rotation markers
(:mod:`kvdr.rotation.markers`) share this shape: a secret named
``<prefix><kind letter>-<40 hex of sha256(lower-case item name)>`` (vault names are
case-insensitive, and a hash keeps any item name inside the 127-character limit), whose tags
carry the record, so that

* a whole vault's records are read with one paged list call, never a value read;
* one item's record is read from its version list, never a value read;
* writers never race over a shared document: each item has its own secret.

Reserved names (``kvdr-*``) are never synced, reported or deleted by kvdr's user syncs: each
vault keeps its own records. The value only repeats the tags as JSON for a person reading it in
the portal; it is no secret.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from azure.keyvault.secrets import SecretProperties

from kvdr.errors import VaultError
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession

RECORD_CONTENT_TYPE = "application/json"
KIND_LETTER: dict[ItemKind, str] = {ItemKind.SECRET: "s", ItemKind.CERTIFICATE: "c",
                                    ItemKind.KEY: "k"}
# failures after which a write may have landed (or not yet been tried): ask, then send again
_RETRYABLE = frozenset({"vault.throttled", "vault.unavailable", "vault.unreachable"})


def record_name(prefix: str, kind: ItemKind | str, name: str) -> str:
    """The reserved secret holding ``name``'s record under ``prefix`` (e.g. ``kvdr-rotation-``)."""
    digest = hashlib.sha256(name.lower().encode("utf-8")).hexdigest()[:40]
    return f"{prefix}{KIND_LETTER[ItemKind(kind)]}-{digest}"


def list_records(session: VaultSession, prefix: str, what: str) -> Iterator[SecretProperties]:
    """The enabled secrets of this vault whose names start with ``prefix`` (one paged list of
    the vault's secrets; no value read). ``what`` names the listing in errors."""
    with session.mapped(what):
        for props in session.secrets.list_properties_of_secrets():
            if (props.name or "").lower().startswith(prefix) and props.enabled is not False:
                yield props


def record_tags(session: VaultSession, secret_name: str, what: str) -> Mapping[str, str] | None:
    """The tags of the latest version of one record secret, from its version list (no value is
    read; two versions made in one second tie in the list, and then one get names the latest);
    None when it does not exist or its latest version is disabled. ``what`` names the read in
    errors."""
    with session.mapped(what):
        latest = session.latest_secret_properties(secret_name)
    if latest is None:
        return None
    return None if latest.enabled is False else dict(latest.tags or {})


def write_once(session: VaultSession, what: str, write: Callable[[], Any],
               landed: Callable[[], bool]) -> None:
    """Send a version-creating write (``write`` must pass ``retry_total=0``: the SDK re-sends a
    PUT whose answer was lost, and a reserved secret would get a second version); after a
    failure a retry may fix, ask ``landed`` whether the first send was applied anyway (a
    connection dropped after the write), and send again only if not. Throttling is answered
    before the write, so it is sent again without asking."""
    delays = session.retry_backoff
    attempt = 0
    while True:
        try:
            session.call(what, write)
            return
        except VaultError as exc:
            if exc.code not in _RETRYABLE or attempt >= len(delays):
                raise
            if exc.code != "vault.throttled" and landed():
                return
            time.sleep(max(exc.retry_after or 0.0, delays[attempt]))
            attempt += 1


def write_record(session: VaultSession, secret_name: str, tags: Mapping[str, str],
                 what: str, value: Mapping[str, Any] | None = None) -> None:
    """Write one record (a new version of its secret), once: a write whose answer was lost is
    recognised by the record's latest tags (:func:`write_once`). A soft-deleted record is
    recovered first (its name would refuse the write)."""
    text = json.dumps(dict(value if value is not None else tags), separators=(",", ":"),
                      sort_keys=True)
    wanted = dict(tags)

    def send() -> None:
        session.secrets.set_secret(secret_name, text, content_type=RECORD_CONTENT_TYPE,
                                   tags=wanted, retry_total=0)

    def landed() -> bool:
        # the record holds what this write carries: written (by this send or before it)
        return record_tags(session, secret_name, f"re-read {what}") == wanted

    def write() -> None:
        write_once(session, what, send, landed)

    try:
        write()
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        with session.mapped(f"recover {what}"):
            session.secrets.begin_recover_deleted_secret(secret_name).wait()
        write()
