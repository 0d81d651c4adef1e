"""Certificate versions: how the service renders one, and storing one together with the
backing key and secret the real service keeps under the same name and version."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509

from emulator import jwk, keys, x509build
from emulator.certificate_policy import KIND, render_policy
from emulator.context import Ctx, check_name, render_attributes
from emulator.errors import conflict, deleted_but_recoverable, not_found
from emulator.store import Item, Version, new_version


def render(ctx: Ctx, item: Item, v: Version, *, full: bool = True) -> dict[str, Any]:
    cert_der = base64.b64decode(v.data["cer"])
    out: dict[str, Any] = {
        "id": f"{ctx.base}/certificates/{item.name}/{v.version}",
        "x5t": x509build.thumbprint(cert_der),
        "attributes": render_attributes(v.attributes),
    }
    if v.tags:
        out["tags"] = v.tags
    if full:
        out["kid"] = f"{ctx.base}/keys/{item.name}/{v.version}"
        out["sid"] = f"{ctx.base}/secrets/{item.name}/{v.version}"
        out["cer"] = v.data["cer"]
        out["contentType"] = v.data["contentType"]
        out["policy"] = render_policy(ctx, item)
    return out


def render_latest(ctx: Ctx, item: Item) -> dict[str, Any]:
    return render(ctx, item, item.versions[item.latest])


def live(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None or not item.versions:
        raise not_found(KIND, name)
    return item


def check_free(ctx: Ctx, name: str) -> None:
    for kind in (KIND, keys.KIND, "secrets"):
        if ctx.store.get_deleted(kind, name) is not None:
            raise deleted_but_recoverable(kind, name)
    for kind in (keys.KIND, "secrets"):
        existing = ctx.store.get(kind, name)
        if existing is not None and not existing.versions[existing.latest].data.get("managed"):
            raise conflict(
                f"A {kind[:-1]} named {name} already exists and is not managed by a certificate.",
            )


def add_version(
    ctx: Ctx,
    item: Item,
    key: jwk.PrivateKey,
    cert: x509.Certificate,
    attrs: dict[str, Any],
    tags: dict[str, str],
) -> Version:
    """Store a certificate version with its backing key and secret; the caller holds the lock."""
    policy = item.extra["policy"]
    version = new_version()
    cert_der = x509build.der(cert)
    attrs = dict(attrs)
    attrs["nbf"] = int(cert.not_valid_before_utc.timestamp())
    attrs["exp"] = int(cert.not_valid_after_utc.timestamp())
    content_type = policy["secret_props"]["contentType"]
    v = Version(
        version,
        attrs,
        tags,
        {"cer": base64.b64encode(cert_der).decode(), "contentType": content_type},
    )
    store = ctx.store
    kty = policy["key_props"].get("kty") or x509build.key_props_of(key)["kty"]
    key_item = store.get(keys.KIND, item.name) or Item(item.name)
    key_item.add(keys.make_version(key, kty, None, dict(attrs), {}, version=version, managed=True))
    exportable = policy["key_props"].get("exportable", True)
    value = x509build.secret_value(key if exportable else None, cert, content_type)
    secret_item = store.get("secrets", item.name) or Item(item.name)
    secret_item.add(
        Version(
            version,
            dict(attrs),
            {},
            {
                "value": value,
                "contentType": content_type,
                "managed": True,
                "kid": f"keys/{item.name}/{version}",
            },
        )
    )
    item.add(v)
    store.put(keys.KIND, key_item, new_version=version)
    store.put("secrets", secret_item, new_version=version)
    store.put(KIND, item, new_version=version)
    return v
