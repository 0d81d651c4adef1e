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
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.keyvault.secrets import SecretProperties

from kvdr.errors import VaultError
from kvdr.vault.inventory import ItemKind, to_utc
from kvdr.vault.session import VaultSession

RECORD_CONTENT_TYPE = "application/json"
KIND_LETTER: dict[ItemKind, str] = {ItemKind.SECRET: "s", ItemKind.CERTIFICATE: "c",
                                    ItemKind.KEY: "k"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    read); None when it does not exist or its latest version is disabled."""
    versions = session.call_or_none(
        what, lambda: list(session.secrets.list_properties_of_secret_versions(secret_name)))
    if not versions:
        return None
    latest = max(versions, key=lambda p: (to_utc(p.created_on) or _EPOCH,
                                          to_utc(p.updated_on) or _EPOCH))
    return None if latest.enabled is False else dict(latest.tags or {})


def write_record(session: VaultSession, secret_name: str, tags: Mapping[str, str],
                 what: str, value: Mapping[str, Any] | None = None) -> None:
    """Write one record (a new version of its secret). A soft-deleted record is recovered first
    (its name would refuse the write)."""
    text = json.dumps(dict(value if value is not None else tags), separators=(",", ":"),
                      sort_keys=True)

    def write() -> None:
        session.call(what, session.secrets.set_secret, secret_name, text,
                     content_type=RECORD_CONTENT_TYPE, tags=dict(tags))

    try:
        write()
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        with session.mapped(f"recover {what}"):
            session.secrets.begin_recover_deleted_secret(secret_name).wait()
        write()
