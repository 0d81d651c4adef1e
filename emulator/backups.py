"""Opaque backup blobs: an AES-GCM sealed JSON envelope carrying the geography and all versions.

The key is fixed for every emulator process, so a blob taken from one run restores into
another run (as Key Vault blobs restore into any vault of the same geography and subscription).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from emulator.errors import bad_parameter
from emulator.store import Item

_KEY = hashlib.sha256(b"kvdr-emulator backup envelope v1").digest()
_MAGIC = b"KVDRBK1"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional); raises ValueError on any other character."""
    text = text.rstrip("=")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(kind: str, geography: str, items: dict[str, Item]) -> str:
    envelope = {
        "kind": kind,
        "geography": geography,
        "items": {role: item.to_dict() for role, item in items.items()},
    }
    nonce = os.urandom(12)
    plain = json.dumps(envelope, separators=(",", ":")).encode()
    return b64url(_MAGIC + nonce + AESGCM(_KEY).encrypt(nonce, plain, _MAGIC))


def unseal(blob: Any, kind: str, geography: str) -> dict[str, Item]:
    """The items in a blob; raises Key Vault's errors for a malformed or foreign blob."""
    if not isinstance(blob, str) or not blob:
        raise bad_parameter("Backup blob is missing or not a string.")
    try:
        raw = b64url_decode(blob)
        if not raw.startswith(_MAGIC):
            raise ValueError("magic")
        nonce, sealed = raw[len(_MAGIC) : len(_MAGIC) + 12], raw[len(_MAGIC) + 12 :]
        envelope = json.loads(AESGCM(_KEY).decrypt(nonce, sealed, _MAGIC))
    except (ValueError, InvalidTag, binascii.Error) as exc:
        raise bad_parameter("Backup blob is corrupt or was not produced by Key Vault.") from exc
    if envelope.get("kind") != kind:
        raise bad_parameter(f"Backup blob does not contain a {kind[:-1]} backup.")
    if envelope.get("geography") != geography:
        raise bad_parameter(
            f"Backup blob was taken in geography '{envelope.get('geography')}' and cannot be "
            f"restored into a vault in geography '{geography}'. Backups restore only into a vault "
            "in the same Azure geography and subscription."
        )
    return {role: Item.from_dict(d) for role, d in envelope["items"].items()}
