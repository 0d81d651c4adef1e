"""Secrets: set, get, update, list, versions, soft-delete, recover, purge, backup, restore."""

from __future__ import annotations

from typing import Any

from emulator import backups, lifecycle
from emulator.context import (
    Ctx,
    check_name,
    new_attributes,
    opt,
    page,
    parse_attributes,
    parse_tags,
    render_attributes,
    version_of,
    versions_page,
)
from emulator.errors import (
    bad_parameter,
    conflict,
    deleted_but_recoverable,
    forbidden,
    not_found,
)
from emulator.store import Item, Version, new_version, now

KIND = "secrets"
MAX_VALUE_BYTES = 25 * 1024

Result = tuple[int, dict[str, Any]]


def render(ctx: Ctx, item: Item, v: Version, *, value: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"{ctx.base}/secrets/{item.name}/{v.version}",
        "attributes": render_attributes(v.attributes),
    }
    if value:
        out["value"] = v.data["value"]
    if v.data.get("contentType") is not None:
        out["contentType"] = v.data["contentType"]
    if v.tags:
        out["tags"] = v.tags
    if v.data.get("managed"):
        out["managed"] = True
        out["kid"] = f"{ctx.base}/{v.data['kid']}"
    return out


def render_listed(ctx: Ctx, item: Item, v: Version, *, versioned: bool) -> dict[str, Any]:
    out = render(ctx, item, v, value=False)
    out.pop("kid", None)
    if not versioned:
        out["id"] = f"{ctx.base}/secrets/{item.name}"
    return out


def _render_latest(ctx: Ctx, item: Item) -> dict[str, Any]:
    return render(ctx, item, item.versions[item.latest], value=False)


def _live(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None:
        raise not_found(KIND, name)
    return item


def _not_managed(item: Item, action: str) -> None:
    if item.versions[item.latest].data.get("managed"):
        raise forbidden(
            f"Operation {action} is not allowed on secret {item.name}: it is managed by a "
            "certificate. Use the certificates API.",
            inner_code="ManagedSecret",
        )


def set_secret(ctx: Ctx, name: str) -> Result:
    check_name(name)
    body = ctx.json_body()
    value = body.get("value")
    if not isinstance(value, str):
        raise bad_parameter("The secret value must be a string.")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise bad_parameter(
            f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes.",
            inner_code="SecretTooLarge",
        )
    content_type = opt(body, "contentType", str, "contentType")
    attrs = new_attributes(parse_attributes(body))
    tags = parse_tags(body) or {}
    store = ctx.store
    with store.lock:
        if store.get_deleted(KIND, name) is not None:
            raise deleted_but_recoverable(KIND, name)
        item = store.get(KIND, name)
        if item is None:
            item = Item(name)
        else:
            _not_managed(item, "set")
        v = Version(new_version(), attrs, tags, {"value": value, "contentType": content_type})
        item.add(v)
        store.put(KIND, item, new_version=v.version)
    return 200, render(ctx, item, v, value=True)


def get_secret(ctx: Ctx, name: str, version: str = "") -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        if not v.attributes.get("enabled", True):
            raise forbidden(
                "Operation get is not allowed on a disabled secret.", inner_code="SecretDisabled"
            )
        return 200, render(ctx, item, v, value=True)


def update_secret(ctx: Ctx, name: str, version: str = "") -> Result:
    body = ctx.json_body()
    content_type = opt(body, "contentType", str, "contentType")
    attrs = parse_attributes(body)
    tags = parse_tags(body)
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        _not_managed(item, "update")
        v.attributes.update(attrs)
        v.attributes["updated"] = now()
        if content_type is not None:
            v.data["contentType"] = content_type
        if tags is not None:
            v.tags = tags
        ctx.store.put(KIND, item)
        return 200, render(ctx, item, v, value=False)


def list_secrets(ctx: Ctx) -> Result:
    with ctx.store.lock:
        items = ctx.store.sorted_live(KIND)
        return 200, page(
            ctx,
            "secrets",
            items,
            lambda i: render_listed(ctx, i, i.versions[i.latest], versioned=False),
        )


def list_versions(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        return 200, versions_page(
            ctx, KIND, item, lambda v: render_listed(ctx, item, v, versioned=True))


def delete_secret(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        _not_managed(item, "delete")
        ctx.store.soft_delete(KIND, name)
        return 200, lifecycle.with_deleted_fields(ctx, KIND, item, _render_latest)


def get_deleted(ctx: Ctx, name: str) -> Result:
    return lifecycle.get_deleted(ctx, KIND, name, _render_latest)


def list_deleted(ctx: Ctx) -> Result:
    return lifecycle.list_deleted(ctx, KIND, _render_latest)


def recover(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        return 200, _render_latest(ctx, lifecycle.recover(ctx, KIND, name))


def purge(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        lifecycle.purge(ctx, KIND, name)
    return 204, {}


def backup(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        _not_managed(item, "backup")
        return 200, {"value": backups.seal(KIND, ctx.store.geography, {"secret": item})}


def restore(ctx: Ctx) -> Result:
    body = ctx.json_body()
    item = backups.unseal(body.get("value"), KIND, ctx.store.geography)["secret"]
    with ctx.store.lock:
        if ctx.store.get_deleted(KIND, item.name) is not None:
            raise deleted_but_recoverable(KIND, item.name)
        if ctx.store.get(KIND, item.name) is not None:
            raise conflict(
                f"Secret {item.name} already exists. A backup can be restored only when the "
                "name is not in use."
            )
        ctx.store.put(KIND, item, new_version=item.latest)
        return 200, render(ctx, item, item.versions[item.latest], value=False)
