"""Keys: create, import, get (public parts), update, list, versions, soft-delete lifecycle,
backup/restore, and the cryptographic operations."""

from __future__ import annotations

import binascii
from typing import Any

from emulator import backups, jwk, lifecycle
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
from emulator.errors import bad_parameter, conflict, deleted_but_recoverable, forbidden, not_found
from emulator.store import Item, Version, new_version, now

KIND = "keys"
Result = tuple[int, dict[str, Any]]
_ALL_OPS = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"}
_loaded: dict[str, jwk.PrivateKey] = {}


def key_of(v: Version) -> jwk.PrivateKey:
    key = _loaded.get(v.version)
    if key is None:
        key = jwk.load_pem(v.data["pem"])
        if len(_loaded) > 4096:
            _loaded.clear()
        _loaded[v.version] = key
    return key


def make_version(
    key: jwk.PrivateKey,
    kty: str,
    key_ops: list[str] | None,
    attrs: dict[str, Any],
    tags: dict[str, str],
    *,
    version: str | None = None,
    managed: bool = False,
) -> Version:
    default_ops = jwk.RSA_OPS if kty.startswith("RSA") else jwk.EC_OPS
    data: dict[str, Any] = {
        "pem": jwk.to_pem(key),
        "public": jwk.public_jwk(key, kty),
        "key_ops": list(key_ops) if key_ops is not None else list(default_ops),
    }
    if managed:
        data["managed"] = True
    v = Version(version or new_version(), attrs, tags, data)
    _loaded[v.version] = key
    return v


def render(ctx: Ctx, item: Item, v: Version) -> dict[str, Any]:
    key = dict(v.data["public"])
    key["kid"] = f"{ctx.base}/keys/{item.name}/{v.version}"
    key["key_ops"] = v.data["key_ops"]
    out: dict[str, Any] = {"key": key, "attributes": render_attributes(v.attributes)}
    if v.tags:
        out["tags"] = v.tags
    if v.data.get("managed"):
        out["managed"] = True
    return out


def _render_listed(ctx: Ctx, item: Item, v: Version, *, versioned: bool) -> dict[str, Any]:
    out = render(ctx, item, v)
    kid = out.pop("key")["kid"]
    out["kid"] = kid if versioned else f"{ctx.base}/keys/{item.name}"
    return out


def _render_latest(ctx: Ctx, item: Item) -> dict[str, Any]:
    return render(ctx, item, item.versions[item.latest])


def _live(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None:
        raise not_found(KIND, name)
    return item


def _key_ops(body: dict[str, Any], field: str = "key_ops") -> list[str] | None:
    ops = body.get(field)
    if ops is None:
        return None
    if not isinstance(ops, list) or not all(isinstance(o, str) and o in _ALL_OPS for o in ops):
        raise bad_parameter(f"Invalid value for '{field}'.")
    return ops


def _store_new(ctx: Ctx, name: str, v: Version) -> Item:
    store = ctx.store
    with store.lock:
        if store.get_deleted(KIND, name) is not None:
            raise deleted_but_recoverable(KIND, name)
        item = store.get(KIND, name) or Item(name)
        if item.versions and item.versions[item.latest].data.get("managed"):
            raise conflict(f"Key {name} is managed by a certificate.")
        item.add(v)
        store.put(KIND, item, new_version=v.version)
        return item


def create_key(ctx: Ctx, name: str) -> Result:
    check_name(name)
    body = ctx.json_body()
    kty = opt(body, "kty", str, "kty")
    if kty is None:
        raise bad_parameter("The key type 'kty' is required.")
    size = opt(body, "key_size", int, "key_size")
    crv = opt(body, "crv", str, "crv")
    exponent = opt(body, "public_exponent", int, "public_exponent")
    ops = _key_ops(body)
    attrs = new_attributes(parse_attributes(body))
    tags = parse_tags(body) or {}
    if ctx.store.get_deleted(KIND, name) is not None:
        raise deleted_but_recoverable(KIND, name)
    key = jwk.generate(kty, size, crv, exponent)
    v = make_version(key, kty, ops, attrs, tags)
    item = _store_new(ctx, name, v)
    return 200, render(ctx, item, v)


def import_key(ctx: Ctx, name: str) -> Result:
    check_name(name)
    body = ctx.json_body()
    raw = body.get("key")
    key = jwk.from_jwk(raw)
    assert isinstance(raw, dict)
    kty = raw["kty"]
    if opt(body, "Hsm", bool, "Hsm") and not kty.endswith("-HSM"):
        kty += "-HSM"
    ops = _key_ops(raw)
    v = make_version(key, kty, ops, new_attributes(parse_attributes(body)), parse_tags(body) or {})
    item = _store_new(ctx, name, v)
    return 200, render(ctx, item, v)


def get_key(ctx: Ctx, name: str, version: str = "") -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        return 200, render(ctx, item, v)


def update_key(ctx: Ctx, name: str, version: str = "") -> Result:
    body = ctx.json_body()
    attrs = parse_attributes(body)
    tags = parse_tags(body)
    ops = _key_ops(body)
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        v.attributes.update(attrs)
        v.attributes["updated"] = now()
        if tags is not None:
            v.tags = tags
        if ops is not None:
            v.data["key_ops"] = ops
        ctx.store.put(KIND, item)
        return 200, render(ctx, item, v)


def list_keys(ctx: Ctx) -> Result:
    with ctx.store.lock:
        items = ctx.store.sorted_live(KIND)
        return 200, page(
            ctx,
            "keys",
            items,
            lambda i: _render_listed(ctx, i, i.versions[i.latest], versioned=False),
        )


def list_versions(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        return 200, versions_page(
            ctx, KIND, item, lambda v: _render_listed(ctx, item, v, versioned=True))


def delete_key(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        if item.versions[item.latest].data.get("managed"):
            raise forbidden(f"Key {name} is managed by a certificate; delete the certificate.")
        ctx.store.soft_delete(KIND, name)
        return 200, lifecycle.with_deleted_fields(ctx, KIND, item, _render_latest)


def get_deleted(ctx: Ctx, name: str) -> Result:
    return lifecycle.get_deleted(ctx, KIND, name, _render_latest)


def list_deleted(ctx: Ctx) -> Result:
    return lifecycle.list_deleted(
        ctx, KIND, lambda c, i: _render_listed(c, i, i.versions[i.latest], versioned=False)
    )


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
        return 200, {"value": backups.seal(KIND, ctx.store.geography, {"key": item})}


def restore(ctx: Ctx) -> Result:
    item = backups.unseal(ctx.json_body().get("value"), KIND, ctx.store.geography)["key"]
    with ctx.store.lock:
        if ctx.store.get_deleted(KIND, item.name) is not None:
            raise deleted_but_recoverable(KIND, item.name)
        if ctx.store.get(KIND, item.name) is not None:
            raise conflict(
                f"Key {item.name} already exists. A backup can be restored only when the name "
                "is not in use."
            )
        ctx.store.put(KIND, item, new_version=item.latest)
        return 200, _render_latest(ctx, item)


# ---- cryptographic operations ---------------------------------------------------------------
def _bytes(body: dict[str, Any], field: str) -> bytes:
    raw = body.get(field)
    if not isinstance(raw, str):
        raise bad_parameter(f"The request must carry '{field}' as base64url.")
    try:
        return backups.b64url_decode(raw)
    except (ValueError, binascii.Error) as exc:
        raise bad_parameter(f"'{field}' is not base64url.") from exc


def key_operation(ctx: Ctx, name: str, version: str, operation: str) -> Result:
    body = ctx.json_body()
    alg = opt(body, "alg", str, "alg")
    if alg is None:
        raise bad_parameter("The algorithm 'alg' is required.")
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        if not v.attributes.get("enabled", True):
            raise forbidden(
                f"Operation {operation} is not allowed on a disabled key.", inner_code="KeyDisabled"
            )
        if operation not in v.data["key_ops"]:
            raise forbidden(
                f"Operation {operation} is not permitted on key {name}: it is not in key_ops.",
                inner_code="KeyOperationForbidden",
            )
        kid = f"{ctx.base}/keys/{item.name}/{v.version}"
        key = key_of(v)
    if operation == "verify":
        ok = jwk.verify(key, alg, _bytes(body, "digest"), _bytes(body, "value"))
        return 200, {"value": ok}
    data = _bytes(body, "value")
    if operation in ("encrypt", "wrapKey"):
        out = jwk.encrypt(key, alg, data)
    elif operation in ("decrypt", "unwrapKey"):
        out = jwk.decrypt(key, alg, data)
    else:
        out = jwk.sign(key, alg, data)
    return 200, {"kid": kid, "value": backups.b64url(out)}
