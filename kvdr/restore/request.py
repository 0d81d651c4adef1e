"""Restore requests: what an operator or a pipeline asks the restore runbook for.

A request names the moment to go back to (``as_of``), which items (the scope), and how (dry
run, approval, disabling items created after the moment). It crosses the Durable boundary as
the restore orchestration's input, so it is a plain dataclass with ``to_dict``/``from_dict``
and carries no value. :func:`parse_request` reads an HTTP body strictly (the command line
builds the same body from its flags): anything kvdr cannot act on exactly as written is a
:class:`RestoreRequestError` — HTTP 400 ``restore.bad_request``, or ``restore.bad_time`` for
the moment — and starts nothing.

TIME is an ISO 8601 timestamp with a zone (``2025-03-01T02:00:00Z``, ``…+01:00``) or a duration
ago (``2h``, ``30m``, ``1d12h``, ``P1D``). A duration is resolved once, when the request is
read, so a resumed run restores to the same moment. A moment in the future (beyond
:data:`CLOCK_SKEW`, the tolerance between the caller's clock and the vault's) is refused, and
so is one older than :data:`MAX_AGE`: a vault keeps a deleted item for at most 90 days, so
kvdr cannot vouch for a moment further back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kvdr.config.durations import parse_duration
from kvdr.failover.request import APPROVAL_EVENT, DEFAULT_APPROVAL_TIMEOUT_SECONDS
from kvdr.request_body import RequestError, check_types, json_object
from kvdr.restore.model import RestoreScope
from kvdr.vault.inventory import ItemKind, format_time, parse_time

__all__ = ["APPROVAL_EVENT", "BAD_TIME_CODE", "CLOCK_SKEW", "MAX_AGE", "RestoreRequest",
           "RestoreRequestError", "parse_as_of", "parse_kinds", "parse_request"]

BAD_TIME_CODE = "restore.bad_time"
CLOCK_SKEW = timedelta(minutes=5)   # a moment this far "ahead" is the caller's clock, not intent
MAX_AGE = timedelta(days=90)        # the longest soft-delete retention Key Vault offers
MAX_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_REASON_CHARS = 500
MAX_NAME_GLOBS = 100
MAX_GLOB_CHARS = 256
# a vault object name (^[0-9a-zA-Z-]{1,127}$) plus fnmatch's wildcards and classes
_GLOB = re.compile(r"^[0-9a-zA-Z*?\[\]!-]+$")
# the kinds a request may name, as an operator spells them
KIND_NAMES: dict[str, ItemKind] = {
    "secrets": ItemKind.SECRET, "secret": ItemKind.SECRET,
    "certificates": ItemKind.CERTIFICATE, "certificate": ItemKind.CERTIFICATE,
    "keys": ItemKind.KEY, "key": ItemKind.KEY}


class RestoreRequestError(RequestError):
    """A restore request kvdr cannot act on exactly as written (HTTP 400)."""

    default_code = "restore.bad_request"


@dataclass(frozen=True)
class RestoreRequest:
    """The restore orchestration's input.

    ``as_of``: the aware UTC moment to go back to. ``scope``: kinds and name globs.
    ``disable_new``: disable items created after ``as_of`` instead of only reporting them
    (never delete). ``approval_required``: wait for ``POST /api/runbooks/{id}/approve`` after
    the plan. ``run_id`` defaults to the instance id.
    """

    as_of: datetime
    scope: RestoreScope = field(default_factory=RestoreScope)
    dry_run: bool = False
    approval_required: bool = True
    approval_timeout_seconds: int = DEFAULT_APPROVAL_TIMEOUT_SECONDS
    disable_new: bool = False
    requested_by: str = ""
    reason: str = ""
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": format_time(self.as_of), "scope": self.scope.to_dict(),
                "dry_run": self.dry_run, "approval_required": self.approval_required,
                "approval_timeout_seconds": self.approval_timeout_seconds,
                "disable_new": self.disable_new, "requested_by": self.requested_by,
                "reason": self.reason, "run_id": self.run_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreRequest:
        as_of = parse_time(data["as_of"])
        assert as_of is not None
        return cls(as_of=as_of, scope=RestoreScope.from_dict(data.get("scope") or {}),
                   dry_run=bool(data.get("dry_run", False)),
                   approval_required=bool(data.get("approval_required", True)),
                   approval_timeout_seconds=int(data.get(
                       "approval_timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS)),
                   disable_new=bool(data.get("disable_new", False)),
                   requested_by=data.get("requested_by") or "", reason=data.get("reason") or "",
                   run_id=data.get("run_id"))


def parse_as_of(text: object, now: datetime) -> datetime:
    """TIME as an aware UTC datetime: an ISO 8601 timestamp with a zone, or a duration ago
    (relative to ``now``); refused when in the future or older than :data:`MAX_AGE`."""
    if not isinstance(text, str) or not text.strip():
        raise RestoreRequestError(
            "as_of is required: an ISO 8601 time with a zone (2025-03-01T02:00:00Z) or a "
            "duration ago (2h, 30m, 1d)", code=BAD_TIME_CODE)
    value = text.strip()
    moment = _moment(value, now)
    if moment > now + CLOCK_SKEW:
        raise RestoreRequestError(
            f"as_of {format_time(moment)} is in the future (now is {format_time(now)}); a "
            "restore goes back to a moment that has passed", code=BAD_TIME_CODE)
    if moment < now - MAX_AGE:
        raise RestoreRequestError(
            f"as_of {format_time(moment)} is more than {MAX_AGE.days} days ago: a vault keeps a "
            "deleted item for at most 90 days, so kvdr cannot restore to that moment; pick a "
            "later one", code=BAD_TIME_CODE)
    return moment


def _moment(value: str, now: datetime) -> datetime:
    # a duration needs a unit: a bare number ("2024") is more likely a mistyped time
    if not value.isdigit():
        try:
            ago = parse_duration(value)
        except ValueError:
            pass
        else:
            if ago <= timedelta(0):
                raise RestoreRequestError("as_of must be a duration greater than zero ago",
                                          code=BAD_TIME_CODE)
            return now - ago
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise RestoreRequestError(
            f"as_of {value!r} is neither an ISO 8601 time (2025-03-01T02:00:00Z) nor a "
            "duration ago (2h, 30m, 1d, 1d12h)", code=BAD_TIME_CODE) from None
    if moment.tzinfo is None:
        raise RestoreRequestError(
            f"as_of {value!r} has no time zone; add one (Z for UTC, or +01:00): kvdr does not "
            "guess which clock you meant", code=BAD_TIME_CODE)
    parsed = parse_time(moment.isoformat())
    assert parsed is not None
    return parsed


def parse_kinds(value: object) -> tuple[ItemKind, ...]:
    """A non-empty list of kinds (``secrets``, ``certificates``, ``keys``), each once; a
    comma-separated string is accepted too (the command line's ``--kinds``)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        raise RestoreRequestError('kinds must be a non-empty list of "secrets", '
                                  '"certificates", "keys"')
    unknown = [k for k in value if k.lower() not in KIND_NAMES]
    if unknown:
        raise RestoreRequestError(f"unknown kind(s) {', '.join(repr(k) for k in unknown)}; "
                                  'use "secrets", "certificates", "keys"')
    kinds = [KIND_NAMES[k.lower()] for k in value]
    if len(set(kinds)) != len(kinds):
        raise RestoreRequestError("kinds lists a kind twice")
    return tuple(k for k in ItemKind if k in kinds)  # in the planner's order


def parse_names(value: object) -> tuple[str, ...]:
    """A non-empty list of name globs (``app-*``, ``db-?``, ``[ab]-key``)."""
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        raise RestoreRequestError("names must be a non-empty list of name globs such as "
                                  '"app-*"')
    if len(value) > MAX_NAME_GLOBS:
        raise RestoreRequestError(f"names lists more than {MAX_NAME_GLOBS} globs")
    globs = [n.strip() for n in value]
    for glob in globs:
        if not glob or len(glob) > MAX_GLOB_CHARS or not _GLOB.match(glob):
            raise RestoreRequestError(
                f"name glob {glob!r} is not one kvdr can match: vault names hold letters, "
                "digits and '-', and a glob adds *, ? and [...]")
    if len({g.lower() for g in globs}) != len(globs):
        raise RestoreRequestError("names lists a glob twice")
    return tuple(globs)


_FIELDS: dict[str, tuple[type, ...]] = {
    "as_of": (str,), "names": (list,), "kinds": (list, str), "disable_new": (bool,),
    "dry_run": (bool,), "approval_required": (bool,), "approval_timeout_seconds": (int,),
    "requested_by": (str,), "reason": (str,)}
EXAMPLE = ('{"as_of": "2025-03-01T02:00:00Z" | "2h", "names": ["app-*"], "kinds": '
           '["secrets", "certificates"], "reason": "<why>"}')


def parse_request(raw: bytes, *, now: datetime, default_approval: bool = True,
                  caller: str = "operator") -> RestoreRequest:
    """Validate the body of ``POST /api/runbooks/restore``::

        {"as_of": "<ISO 8601 with a zone>" | "<duration ago: 2h, 30m, 1d>",
         "names": ["<glob>", …] (default: every item), "kinds": ["secrets", "certificates",
         "keys"] (default: all three; keys are only reported), "disable_new": false,
         "dry_run": false, "approval_required": <bool, default true>,
         "approval_timeout_seconds": 3600, "requested_by": "<who>", "reason": "<why>"}

    ``now`` is the caller's clock, against which a duration and the limits are read.
    """
    try:
        body = json_object(raw, _FIELDS, required=True, example=EXAMPLE)
    except RequestError as exc:  # the same sentence, under the restore runbook's code
        raise RestoreRequestError(exc.message) from None
    assert body is not None
    try:
        check_types(body, _FIELDS)
    except RequestError as exc:  # the same sentence, under the restore runbook's code
        raise RestoreRequestError(exc.message) from None
    as_of = parse_as_of(body.get("as_of"), now)
    kinds = parse_kinds(body["kinds"]) if "kinds" in body else tuple(ItemKind)
    names = parse_names(body["names"]) if "names" in body else ()
    reason = (body.get("reason") or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise RestoreRequestError(f"reason is longer than {MAX_REASON_CHARS} characters")
    timeout = body.get("approval_timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS)
    if not 60 <= timeout <= MAX_APPROVAL_TIMEOUT_SECONDS:
        raise RestoreRequestError(f"approval_timeout_seconds must be between 60 and "
                                  f"{MAX_APPROVAL_TIMEOUT_SECONDS}")
    requested_by = (body.get("requested_by") or caller).strip()[:200] or caller
    return RestoreRequest(as_of=as_of, scope=RestoreScope(kinds=kinds, names=names),
                          dry_run=body.get("dry_run", False),
                          approval_required=body.get("approval_required", default_approval),
                          approval_timeout_seconds=timeout,
                          disable_new=body.get("disable_new", False),
                          requested_by=requested_by, reason=reason)

