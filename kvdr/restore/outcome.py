"""What restoring one item did: :class:`RestoreOutcome`, and the codes of restore failures
that are kvdr's own (a vault's answer keeps its ``vault.*`` code). Never a value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvdr.errors import KvdrError
from kvdr.restore.model import RestoreAction
from kvdr.vault.inventory import ItemKind


class RestoreCode:
    """Codes on failed outcomes (documented in :mod:`kvdr.error_codes`)."""

    CHANGED = "restore.changed"
    SOURCE_UNREADABLE = "restore.source_unreadable"
    SOURCE_GONE = "restore.source_gone"
    NOT_EXPORTABLE = "restore.not_exportable"
    VERIFY_FAILED = "restore.verify_failed"
    INTERNAL = "restore.internal"


class RestoreFailed(KvdrError):
    """One item's restore failed with a kvdr code (caught per item, never raised further)."""

    default_code = RestoreCode.INTERNAL


@dataclass(frozen=True)
class RestoreOutcome:
    """``action``: what was done (``unchanged`` when the restore had already landed, so nothing
    was written); ``ok`` False with ``code``/``message`` when the item failed; ``done``: a
    sentence (e.g. "restored version 1a2b…"); ``source``: the version (and region) the content
    came from; ``wrote``: whether a write was sent (a version, a recovery, an update)."""

    kind: ItemKind
    name: str
    action: RestoreAction
    ok: bool = True
    done: str = ""
    source: str | None = None
    code: str | None = None
    message: str | None = None
    wrote: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ItemKind(self.kind))
        object.__setattr__(self, "action", RestoreAction(self.action))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "name": self.name,
                                "action": str(self.action), "ok": self.ok}
        for name in ("done", "source", "code", "message"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.wrote:
            data["wrote"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreOutcome:
        return cls(kind=ItemKind(data["kind"]), name=data["name"],
                   action=RestoreAction(data["action"]), ok=bool(data.get("ok", True)),
                   done=data.get("done", ""), source=data.get("source"),
                   code=data.get("code"), message=data.get("message"),
                   wrote=bool(data.get("wrote", False)))
