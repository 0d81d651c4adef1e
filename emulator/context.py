"""What a handler sees of a request, and the validation helpers the object handlers share."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from emulator.errors import bad_parameter, not_found
from emulator.store import RECOVERABLE_DAYS, RECOVERY_LEVEL, Item, VaultStore, Version, now

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_TAGS = 15
PAGE_SIZE = 25


@dataclass
class Ctx:
    store: VaultStore
    base: str  # the vault URL as the client gave it, without a trailing slash
    body: Any
    query: Mapping[str, str]

    def json_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise bad_parameter("The request body must be a JSON object.")
        return self.body


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise bad_parameter(
            f"The request URI contains an invalid name: {name}. Names must match "
            "^[0-9a-zA-Z-]{1,127}$."
        )
    return name


def opt(body: Mapping[str, Any], key: str, types: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    # bool is an int subclass: never accept it where a number is wanted
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise bad_parameter(f"Invalid value for '{what}'.")
    return value


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def parse_tags(body: Mapping[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise bad_parameter("Invalid value for 'tags'.")
    if len(tags) > MAX_TAGS:
        raise bad_parameter(f"The number of tags ({len(tags)}) exceeds the maximum of {MAX_TAGS}.")
    for k, v in tags.items():
        if not isinstance(v, str) or len(k) > 512 or len(v) > 256:
            raise bad_parameter(f"Invalid tag '{k}'.")
    return dict(tags)


def parse_attributes(body: Mapping[str, Any], key: str = "attributes") -> dict[str, Any]:
    """The settable attributes (enabled, nbf, exp) present in the request."""
    raw = body.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_parameter(f"Invalid value for '{key}'.")
    out: dict[str, Any] = {}
    enabled = opt(raw, "enabled", bool, "enabled")
    if enabled is not None:
        out["enabled"] = enabled
    for field_name in ("nbf", "exp"):
        value = opt(raw, field_name, int, field_name)
        if value is not None:
            out[field_name] = value
    return out


def new_attributes(settable: Mapping[str, Any]) -> dict[str, Any]:
    t = now()
    attrs: dict[str, Any] = {"enabled": True, "created": t, "updated": t}
    attrs.update(settable)
    return attrs


def render_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(attrs)
    out["recoveryLevel"] = RECOVERY_LEVEL
    out["recoverableDays"] = RECOVERABLE_DAYS
    return out


def deleted_fields(ctx: Ctx, collection: str, item: Item) -> dict[str, Any]:
    return {
        "recoveryId": f"{ctx.base}/{collection}/{item.name}",
        "deletedDate": item.deleted_date,
        "scheduledPurgeDate": item.scheduled_purge_date,
    }


def page(
    ctx: Ctx,
    path: str,
    entries: list[Any],
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page of a list operation, with a ``nextLink`` when more entries follow."""
    try:
        size = min(int(ctx.query.get("maxresults", PAGE_SIZE)), PAGE_SIZE)
        skip = int(ctx.query.get("$skiptoken", "0"))
    except ValueError as exc:
        raise bad_parameter("Invalid maxresults or $skiptoken.") from exc
    if size < 1 or skip < 0:
        raise bad_parameter("Invalid maxresults or $skiptoken.")
    chunk = entries[skip : skip + size]
    next_link = None
    if skip + size < len(entries):
        api = quote(ctx.query.get("api-version", "7.5"))
        next_link = (
            f"{ctx.base}/{path}?api-version={api}&$skiptoken={skip + size}&maxresults={size}"
        )
    return {"value": [render(e) for e in chunk], "nextLink": next_link}


def version_of(item: Item, kind: str, name: str, version: str = "") -> Version:
    """The requested version (the latest for ""), or Key Vault's not-found error."""
    v = item.get(version)
    if v is None:
        raise not_found(kind, name, version)
    return v


def versions_page(ctx: Ctx, kind: str, item: Item,
                  render: Callable[[Version], dict[str, Any]]) -> dict[str, Any]:
    """One page of ``GET /{kind}/{name}/versions``."""
    return page(ctx, f"{kind}/{item.name}/versions", list(item.versions.values()), render)
