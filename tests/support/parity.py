"""Two emulated vaults compared item by item, inside the test: parity (every secret of one is
in the other with the same value and visible metadata) and no duplicated version (no two
versions of a copy written from one source version). Only names are ever returned — never a
value — so a failing assertion prints nothing secret.

Reads the emulator's stores directly (under their lock): comparing through the SDK would cost
calls and could itself be faulted or throttled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emulator.store import Item, Version
from emulator.testing import Emulator
from kvdr.vault.links import LINK_TAG, is_reserved_name, parse_link


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a user set: kvdr's link tag left out."""
    return {k: v for k, v in tags.items() if k != LINK_TAG}


def duplicated_origins(item: Item) -> list[tuple[str, str, str | None]]:
    """Source versions that two or more versions of a copy were written from."""
    origins: Counter[tuple[str, str, str | None]] = Counter()
    for version in item.versions.values():
        link = parse_link(version.tags.get(LINK_TAG))
        if link is not None:
            origins[(link.origin_region, link.origin_version, link.origin_id)] += 1
    return [origin for origin, n in origins.items() if n > 1]


def secret_view(version: Version) -> tuple[Any, ...]:
    """What parity compares of a secret version: value, content type, enabled, nbf, exp and
    the user's tags (the link tag differs by design between an original and its copy)."""
    a = version.attributes
    return (version.data.get("value"), version.data.get("contentType"), a.get("enabled"),
            a.get("nbf"), a.get("exp"), user_tags(version.tags))


def user_secrets(emu: Emulator, vault: str) -> dict[str, Item]:
    """The vault's live secrets by lower-case name, kvdr's reserved records and certificates'
    backing secrets left out."""
    store = emu.store(vault)
    with store.lock:
        return {key: item for key, item in store.live["secrets"].items()
                if not is_reserved_name(item.name)
                and not (item.get() is not None and item.get().data.get("managed"))}


@dataclass
class Parity:
    """Names (``vault/secret``) found wanting; empty lists mean parity without duplicates."""

    lost: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.different or self.duplicated)


def secret_parity(emu: Emulator, vaults: tuple[str, str], *,
                  versions_per_item: int | None = 1) -> Parity:
    """Both directions: every user secret of either vault is in the other with the same
    latest :func:`secret_view`; no item holds two versions from one source version, and with
    ``versions_per_item`` every item (original or copy) holds exactly that many versions
    (each item written once, so one more version is a duplicate copy)."""
    found = Parity()
    contents = {vault: user_secrets(emu, vault) for vault in vaults}
    for vault, other in (vaults, vaults[::-1]):
        for key, item in contents[vault].items():
            counterpart = contents[other].get(key)
            if counterpart is None:
                found.lost.append(f"{other}/{item.name}")
                continue
            if vault == vaults[0]:
                found.compared += 1
                if secret_view(item.get()) != secret_view(counterpart.get()):
                    found.different.append(item.name)
            if duplicated_origins(item) or (
                    versions_per_item is not None and len(item.versions) != versions_per_item):
                found.duplicated.append(f"{vault}/{item.name}")
    return found
