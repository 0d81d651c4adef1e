"""Strict reading of runbook request bodies, shared by every HTTP starter (and the CLI's
requests): a JSON object with known fields only, and region lists that name configured
regions once each. Anything else is a :class:`RequestError` — HTTP 400 ``runbook.bad_request``
with a sentence that says what to send — so a request that kvdr cannot act on exactly as
written starts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kvdr.errors import KvdrError

__all__ = ["RequestError", "check_types", "json_object", "region_list"]


class RequestError(KvdrError):
    """A runbook request kvdr cannot act on exactly as written (HTTP 400)."""

    default_code = "runbook.bad_request"


def json_object(raw: bytes, allowed: Iterable[str], *, example: str,
                required: bool = False) -> dict[str, Any] | None:
    """The body as a JSON object whose fields are all in ``allowed``; None for an empty body
    (unless ``required``). A JSON ``null`` field counts as absent (use the default).
    ``example`` is what the error messages tell the caller to send."""
    if not raw or not raw.strip():
        if required:
            raise RequestError(f"send a JSON body: {example}")
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(f"the body is not JSON; send {example}") from None
    except RecursionError:  # json.loads recurses once per level: [[[[... is not a request
        raise RequestError(f"the body's JSON is nested too deeply; send {example}") from None
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object; send {example}")
    allowed = list(allowed)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; allowed: "
                           f"{', '.join(allowed)}")
    return {k: v for k, v in body.items() if v is not None}


_TYPE_NAMES = {str: "string", bool: "boolean", int: "whole number", list: "array"}


def check_types(body: Mapping[str, Any], fields: Mapping[str, tuple[type, ...]]) -> None:
    """Each present field is of one of its JSON types (a boolean is no whole number), else a
    :class:`RequestError` naming the field and the type to send."""
    for name, kinds in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise RequestError(f"{name} must be a JSON {_TYPE_NAMES[kinds[0]]}")


def region_list(value: Any, regions: Sequence[str], *, field: str = "targets"
                ) -> tuple[str, ...]:
    """A non-empty JSON array of configured region names, each once."""
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise RequestError(f"{field} must be a non-empty JSON array of region names")
    unknown = [t for t in value if t not in regions]
    if unknown:
        raise RequestError(f"unknown {field.rstrip('s')} region(s) {', '.join(unknown)}; "
                           f"configured: {', '.join(regions)}")
    if len(set(value)) != len(value):
        raise RequestError(f"{field} lists a region twice")
    return tuple(value)
