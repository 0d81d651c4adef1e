"""The restore mark: the user tag a restored version carries, saying which version it restores.

    kvdr-restored-from = v1:<source region>:<source version id>:<own version id>

* source region: empty when the content came from the primary's own history (a roll back),
  the secondary's region when it came from a copy there;
* source version id: the service version id of the version restored;
* own version id: the restored version itself. The service assigns it only when the value is
  written, so the mark is written "pending" (empty field) and confirmed with a properties update
  (no new version), as the link tag is (:mod:`kvdr.vault.links`). A rotation script that copies
  the previous version's tags onto a new version copies a mark that is not its own: only a mark
  naming its own version counts, so such a version is rolled back, never taken for a restore.

Why a user tag, and why under ``kvdr-``: the full sync treats only ``kvdr-source`` (the link)
specially, so this tag replicates to the secondaries like any user tag, and ``kvdr-`` keeps it
out of the way of the user's own names. On a copy it names a version of another vault, so it
never passes for that copy's own mark. It costs one tag: a version is marked only when its user
tags leave room for the mark and the link (13 user tags at most); otherwise the executor tells a
landed restore by comparing keyed fingerprints (:mod:`kvdr.vault.fingerprint`) in itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kvdr.vault.links import LINK_TAG, MAX_TAGS

MARK_TAG = "kvdr-restored-from"
MARK_FORMAT = "v1"
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VERSION = re.compile(r"^[0-9A-Za-z-]{1,64}$")


@dataclass(frozen=True)
class RestoreMark:
    source_version: str
    source_region: str | None = None
    own_version: str | None = None

    def __post_init__(self) -> None:
        if not _VERSION.match(self.source_version):
            raise ValueError(f"bad source version {self.source_version!r}")
        if self.source_region is not None and not _REGION.match(self.source_region):
            raise ValueError(f"bad source region {self.source_region!r}")
        if self.own_version is not None and not _VERSION.match(self.own_version):
            raise ValueError(f"bad own version {self.own_version!r}")

    def format(self) -> str:
        return (f"{MARK_FORMAT}:{self.source_region or ''}:{self.source_version}:"
                f"{self.own_version or ''}")

    @classmethod
    def parse(cls, value: object) -> RestoreMark | None:
        """The mark in a tag value; None when it is not one (treated as no mark)."""
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 4 or parts[0] != MARK_FORMAT:
            return None
        try:
            return cls(source_version=parts[2], source_region=parts[1] or None,
                       own_version=parts[3] or None)
        except ValueError:
            return None

    def names(self, version: str, region: str | None = None) -> bool:
        """Whether this mark restores ``version`` (of ``region``; None: the vault's own)."""
        return (self.source_version.lower() == version.lower()
                and (self.source_region or None) == (region or None))

    def confirmed_for(self, own_version: str | None) -> bool:
        return (own_version is not None and self.own_version is not None
                and self.own_version.lower() == own_version.lower())

    def confirmed(self, own_version: str) -> RestoreMark:
        return RestoreMark(self.source_version, self.source_region, own_version)


def mark_of(tags: Mapping[str, str] | None) -> RestoreMark | None:
    return RestoreMark.parse((tags or {}).get(MARK_TAG))


def without_mark(tags: Mapping[str, str] | None) -> dict[str, str]:
    """The user's own tags: without the mark and the link."""
    return {k: v for k, v in (tags or {}).items() if k not in (MARK_TAG, LINK_TAG)}


def has_room_for_mark(user_tags: Mapping[str, str]) -> bool:
    """Room for the mark and, on the copies, the link tag."""
    return len(without_mark(user_tags)) + 2 <= MAX_TAGS


def tags_with_mark(user_tags: Mapping[str, str], mark: RestoreMark | None) -> dict[str, str]:
    """The tags a restored version is written with: the user's, plus the mark when there is
    room (else the user's tags alone)."""
    tags = without_mark(user_tags)
    if mark is not None and has_room_for_mark(tags):
        tags[MARK_TAG] = mark.format()
    return tags
