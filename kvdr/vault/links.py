"""The link tag kvdr writes on every copy, and the names kvdr reserves for itself.

A copy carries one tag, ``kvdr-source``, whose value says where its content came from::

    v1:<origin region>:<origin version>:<epoch>:<copy version>[:<origin id>]

* origin region / version: the vault region and version the content was first written in
  (for a copy of a copy, the original's — so copies of one version in several regions match);
* epoch: the topology epoch when the copy was written (fencing, diagnostics);
* copy version: the version *of the copy itself*. The service assigns it only when the value is
  written, so kvdr writes the tag with this field empty ("pending"), then sets it with a
  properties update (no new version) once the write succeeded.

Why the copy version: rotation scripts often write a new version with the previous version's
tags. Such a version carries a link that is not its own. A link counts only when its copy
version is the item's current version (``confirmed``); otherwise it is ``stale`` (someone else
wrote this version) or ``pending`` (kvdr's write was interrupted before it confirmed).

Version fields hold *version tokens* (``c<creation second>``, see
``kvdr.vault.session.version_token``), because the list APIs return no version ids and change
detection must cost list calls only. Two versions created in the same second share a token, so the
link also records the origin's real version id when kvdr knows it (an optional sixth field,
``origin id``). Full sync, which sees only tokens, cannot tell such versions apart; the event
path, whose events carry the real version id, can — and every new version raises an event.

At most 15 tags fit on an item; the link needs one. An item with 15 user tags has no room,
and kvdr compares keyed fingerprints inside an activity instead (see ``kvdr.vault.fingerprint``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

LINK_TAG = "kvdr-source"
LINK_FORMAT = "v1"
MAX_TAGS = 15  # service maximum per item
RESERVED_PREFIX = "kvdr-"
TOPOLOGY_SECRET_NAME = "kvdr-topology"

_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VERSION = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class LinkState(StrEnum):
    NONE = "none"            # no (valid) link tag: written outside kvdr
    CONFIRMED = "confirmed"  # kvdr wrote this very version
    PENDING = "pending"      # kvdr's write was not confirmed (interrupted, or tags copied)
    STALE = "stale"          # the link names another version: someone copied the tags


@dataclass(frozen=True)
class LinkTag:
    origin_region: str
    origin_version: str
    epoch: int = 0
    copy_version: str | None = None
    origin_id: str | None = None  # the origin's real version id, when known

    def __post_init__(self) -> None:
        if not _REGION.match(self.origin_region):
            raise ValueError(f"bad origin region {self.origin_region!r}")
        if not _VERSION.match(self.origin_version):
            raise ValueError(f"bad origin version {self.origin_version!r}")
        if self.copy_version is not None and not _VERSION.match(self.copy_version):
            raise ValueError(f"bad copy version {self.copy_version!r}")
        if self.origin_id is not None and not _VERSION.match(self.origin_id):
            raise ValueError(f"bad origin id {self.origin_id!r}")
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, int) or self.epoch < 0:
            raise ValueError(f"bad epoch {self.epoch!r}")

    @property
    def origin(self) -> tuple[str, str]:
        return (self.origin_region, self.origin_version.lower())

    def same_origin(self, other: LinkTag) -> bool:
        """Both copy the same origin version: equal tokens, and equal origin ids when both
        are known (tokens of versions created in the same second are equal)."""
        if self.origin != other.origin:
            return False
        if self.origin_id and other.origin_id:
            return self.origin_id.lower() == other.origin_id.lower()
        return True

    def format(self) -> str:
        text = (f"{LINK_FORMAT}:{self.origin_region}:{self.origin_version}:{self.epoch}:"
                f"{self.copy_version or ''}")
        return f"{text}:{self.origin_id}" if self.origin_id else text

    @classmethod
    def parse(cls, value: str) -> LinkTag:
        """Parse a tag value; raise ValueError when it is not a kvdr link."""
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) not in (5, 6) or parts[0] != LINK_FORMAT or not parts[3].isdigit():
            raise ValueError(f"not a kvdr link tag value: {value!r}")
        return cls(origin_region=parts[1], origin_version=parts[2], epoch=int(parts[3]),
                   copy_version=parts[4] or None,
                   origin_id=(parts[5] or None) if len(parts) == 6 else None)

    def confirmed(self, copy_version: str) -> LinkTag:
        """The same link, confirmed for the version the write produced."""
        return LinkTag(self.origin_region, self.origin_version, self.epoch, copy_version,
                       self.origin_id)

    def state_for(self, item_version: str | None) -> LinkState:
        if self.copy_version is None:
            return LinkState.PENDING
        if item_version is not None and self.copy_version.lower() == item_version.lower():
            return LinkState.CONFIRMED
        return LinkState.STALE


def parse_link(value: str | None) -> LinkTag | None:
    """The link in a tag value, or None when absent or malformed (treated as no link)."""
    if value is None:
        return None
    try:
        return LinkTag.parse(value)
    except ValueError:
        return None


def split_tags(tags: Mapping[str, str] | None) -> tuple[dict[str, str], LinkTag | None]:
    """Service tags -> (user tags without the link tag, parsed link or None)."""
    tags = dict(tags or {})
    raw = tags.pop(LINK_TAG, None)
    return tags, parse_link(raw)


def has_room_for_link(user_tags: Mapping[str, str]) -> bool:
    return len(user_tags) < MAX_TAGS


def tags_with_link(user_tags: Mapping[str, str], link: LinkTag | None) -> dict[str, str]:
    """The tags to write: user tags plus the link (when given). Raises ValueError when they
    would exceed the service maximum."""
    tags = {k: v for k, v in user_tags.items() if k != LINK_TAG}
    if link is not None:
        tags[LINK_TAG] = link.format()
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} tags exceed the service maximum of {MAX_TAGS}")
    return tags


def is_reserved_name(name: str) -> bool:
    """Names kvdr keeps for its own records (``kvdr-*``, case-insensitive, as vault names
    are); user syncs never copy, report or delete them."""
    return name.lower().startswith(RESERVED_PREFIX)
