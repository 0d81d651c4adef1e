"""Certificates: create (self-signed completes, other issuers stay pending), import PFX/PEM,
get, policy, versions, list, soft-delete lifecycle, backup/restore — with the backing key and
secret the real service keeps under the same name and version."""

from __future__ import annotations

import base64
import binascii
import copy
import uuid
from typing import Any

from cryptography import x509

from emulator import backups, jwk, keys, lifecycle, x509build
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
    ErrorCode,
    KvError,
    bad_parameter,
    conflict,
    deleted_but_recoverable,
    not_found,
)
from emulator.store import Item, Version, new_version, now

KIND = "certificates"
Result = tuple[int, dict[str, Any]]
_SELF = "self"


def default_policy() -> dict[str, Any]:
    return {
        "key_props": {"exportable": True, "kty": "RSA", "key_size": 2048, "reuse_key": False},
        "secret_props": {"contentType": x509build.PKCS12},
        "x509_props": {"subject": "CN=DefaultPolicy", "validity_months": 12},
        "issuer": {"name": "Self"},
        "lifetime_actions": [
            {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}
        ],
    }


def _parse_policy(raw: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge a request policy over ``base`` (the existing or default policy), checking types."""
    if not isinstance(raw, dict):
        raise bad_parameter("The certificate policy must be a JSON object.")
    policy = copy.deepcopy(base) if base is not None else default_policy()
    for section in ("key_props", "secret_props", "x509_props", "issuer"):
        value = raw.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise bad_parameter(f"Invalid value for policy '{section}'.")
        policy.setdefault(section, {}).update({k: v for k, v in value.items() if v is not None})
    if raw.get("lifetime_actions") is not None:
        if not isinstance(raw["lifetime_actions"], list):
            raise bad_parameter("Invalid value for policy 'lifetime_actions'.")
        policy["lifetime_actions"] = raw["lifetime_actions"]
    if isinstance(raw.get("attributes"), dict):
        policy["attributes"] = parse_attributes(raw)
    content_type = policy["secret_props"].get("contentType")
    if content_type not in (x509build.PKCS12, x509build.PEM):
        raise bad_parameter(f"Invalid secret content type '{content_type}'.")
    x509_props = policy["x509_props"]
    if not isinstance(x509_props.get("subject", ""), str):
        raise bad_parameter("Invalid value for policy 'subject'.")
    months = x509_props.get("validity_months")
    if months is not None and (not isinstance(months, int) or isinstance(months, bool)):
        raise bad_parameter("Invalid value for policy 'validity_months'.")
    return policy


def render_policy(ctx: Ctx, item: Item) -> dict[str, Any]:
    policy = copy.deepcopy(item.extra["policy"])
    policy["id"] = f"{ctx.base}/certificates/{item.name}/policy"
    attrs = policy.get("attributes") or {}
    policy["attributes"] = {"enabled": True, **attrs, "created": item.extra.get("created", now())}
    return policy


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


def _render_latest(ctx: Ctx, item: Item) -> dict[str, Any]:
    return render(ctx, item, item.versions[item.latest])


def _render_operation(ctx: Ctx, item: Item) -> dict[str, Any]:
    op = dict(item.extra["pending"])
    op.pop("pem", None)
    op["id"] = f"{ctx.base}/certificates/{item.name}/pending"
    if op.get("status") == "completed":
        op["target"] = f"{ctx.base}/certificates/{item.name}"
    return op


def _live(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None or not item.versions:
        raise not_found(KIND, name)
    return item


def _check_free(ctx: Ctx, name: str) -> None:
    for kind in (KIND, keys.KIND, "secrets"):
        if ctx.store.get_deleted(kind, name) is not None:
            raise deleted_but_recoverable(kind, name)
    for kind in (keys.KIND, "secrets"):
        existing = ctx.store.get(kind, name)
        if existing is not None and not existing.versions[existing.latest].data.get("managed"):
            raise conflict(
                f"A {kind[:-1]} named {name} already exists and is not managed by a certificate.",
            )


def _add_version(
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


def create_certificate(ctx: Ctx, name: str) -> Result:
    check_name(name)
    body = ctx.json_body()
    attrs = new_attributes(parse_attributes(body))
    tags = parse_tags(body) or {}
    with ctx.store.lock:
        existing = ctx.store.get(KIND, name)
        base = existing.extra["policy"] if existing else None
        if body.get("policy") is None and base is None:
            raise bad_parameter("A certificate policy is required to create a certificate.")
        policy = _parse_policy(body.get("policy") or {}, base)
        if ctx.store.get_deleted(KIND, name) is not None:
            raise deleted_but_recoverable(KIND, name)
        _check_free(ctx, name)
    key_props = policy["key_props"]
    kty = key_props.get("kty") or "RSA"
    key = jwk.generate(kty, key_props.get("key_size"), key_props.get("crv"), None)
    issuer = str(policy["issuer"].get("name") or "Unknown")
    csr_der = x509build.csr(key, policy["x509_props"])
    cert = x509build.self_signed(key, policy["x509_props"]) if issuer.lower() == _SELF else None
    with ctx.store.lock:
        item = ctx.store.get(KIND, name) or Item(name, extra={"created": now()})
        item.extra["policy"] = policy
        item.extra["pending"] = {
            "issuer": {"name": issuer},
            "csr": base64.b64encode(csr_der).decode(),
            "cancellation_requested": False,
            "status": "inProgress",
            "status_details": "Pending certificate created. Certificate request is in progress.",
            "request_id": uuid.uuid4().hex,
            "pem": jwk.to_pem(key),
            "attributes": attrs,
            "tags": tags,
        }
        if cert is None:
            ctx.store.put(KIND, item)
            return 202, _render_operation(ctx, item)
        item.extra["pending"].update(status="completed", status_details=None)
        item.extra["pending"].pop("pem")
        _add_version(ctx, item, key, cert, attrs, tags)
        # Like Key Vault, answer "inProgress": the SDK's poller then reads the operation
        # (already completed) and fetches the certificate.
        out = _render_operation(ctx, item)
        out.update(status="inProgress", target=None)
        return 202, out


def _pending(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None or "pending" not in item.extra:
        raise KvError(
            404, ErrorCode.PENDING_CERTIFICATE_NOT_FOUND, f"Pending certificate not found: {name}"
        )
    return item


def get_operation(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        return 200, _render_operation(ctx, _pending(ctx, name))


def update_operation(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    cancel = opt(body, "cancellation_requested", bool, "cancellation_requested")
    with ctx.store.lock:
        item = _pending(ctx, name)
        op = item.extra["pending"]
        if cancel and op["status"] == "inProgress":
            op.update(cancellation_requested=True, status="cancelled")
            ctx.store.put(KIND, item)
        return 200, _render_operation(ctx, item)


def delete_operation(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _pending(ctx, name)
        out = _render_operation(ctx, item)
        del item.extra["pending"]
        if item.versions:
            ctx.store.put(KIND, item)
        else:
            ctx.store.remove(KIND, item.name)
        return 200, out


def merge(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    x5c = body.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise bad_parameter("'x5c' must be a non-empty list of base64 certificates.")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(x5c[0]))
    except (ValueError, binascii.Error) as exc:
        raise bad_parameter("'x5c' does not hold a DER certificate.") from exc
    with ctx.store.lock:
        item = _pending(ctx, name)
        op = item.extra["pending"]
        if op["status"] != "inProgress" or "pem" not in op:
            raise conflict(f"Certificate {name} has no pending request to merge.")
        key = jwk.load_pem(op["pem"])
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise bad_parameter("The merged certificate does not match the pending key.")
        attrs = op["attributes"]
        if body.get("attributes"):
            attrs = new_attributes(parse_attributes(body))
        tags = parse_tags(body) or op["tags"]
        op.pop("pem")
        op.update(status="completed", status_details=None)
        v = _add_version(ctx, item, key, cert, attrs, tags)
        return 201, render(ctx, item, v)


def import_certificate(ctx: Ctx, name: str) -> Result:
    check_name(name)
    body = ctx.json_body()
    value = body.get("value")
    if not isinstance(value, str):
        raise bad_parameter("The certificate 'value' must be a string.")
    password = opt(body, "pwd", str, "pwd")
    key, cert, content_type = x509build.parse_import(value, password)
    attrs = new_attributes(parse_attributes(body))
    tags = parse_tags(body) or {}
    raw_policy = body.get("policy") or {}
    with ctx.store.lock:
        if ctx.store.get_deleted(KIND, name) is not None:
            raise deleted_but_recoverable(KIND, name)
        _check_free(ctx, name)
        existing = ctx.store.get(KIND, name)
        base = existing.extra["policy"] if existing else default_policy()
        if not existing:
            base["issuer"] = {"name": "Unknown"}
            base["key_props"] = {"exportable": True, "reuse_key": False}
            base["key_props"].update(x509build.key_props_of(key))
            base["x509_props"] = {"subject": x509build.subject_of(cert), "validity_months": 12}
            if x509build.sans_of(cert):
                base["x509_props"]["sans"] = x509build.sans_of(cert)
        base["secret_props"] = {"contentType": content_type}
        policy = _parse_policy(raw_policy, base)
        policy["secret_props"]["contentType"] = content_type
        item = existing or Item(name, extra={"created": now()})
        item.extra["policy"] = policy
        v = _add_version(ctx, item, key, cert, attrs, tags)
        return 200, render(ctx, item, v)


def get_certificate(ctx: Ctx, name: str, version: str = "") -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        return 200, render(ctx, item, v)


def update_certificate(ctx: Ctx, name: str, version: str = "") -> Result:
    body = ctx.json_body()
    attrs = parse_attributes(body)
    tags = parse_tags(body)
    with ctx.store.lock:
        item = _live(ctx, name)
        v = version_of(item, KIND, name, version)
        if body.get("policy") is not None:
            item.extra["policy"] = _parse_policy(body["policy"], item.extra["policy"])
        t = now()
        v.attributes.update(attrs, updated=t)
        if tags is not None:
            v.tags = tags
        for kind in (keys.KIND, "secrets"):
            backing = ctx.store.get(kind, name)
            if backing is not None and v.version in backing.versions:
                backing.versions[v.version].attributes.update(attrs, updated=t)
                ctx.store.put(kind, backing)
        ctx.store.put(KIND, item)
        return 200, render(ctx, item, v)


def get_policy(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = ctx.store.get(KIND, check_name(name))
        if item is None:
            raise not_found(KIND, name)
        return 200, render_policy(ctx, item)


def update_policy(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    with ctx.store.lock:
        item = ctx.store.get(KIND, check_name(name))
        if item is None:
            raise not_found(KIND, name)
        item.extra["policy"] = _parse_policy(body, item.extra["policy"])
        ctx.store.put(KIND, item)
        return 200, render_policy(ctx, item)


def list_certificates(ctx: Ctx) -> Result:
    with ctx.store.lock:
        items = [i for i in ctx.store.sorted_live(KIND) if i.versions]

        def listed(i: Item) -> dict[str, Any]:
            out = render(ctx, i, i.versions[i.latest], full=False)
            out["id"] = f"{ctx.base}/certificates/{i.name}"
            return out

        return 200, page(ctx, "certificates", items, listed)


def list_versions(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        return 200, versions_page(ctx, KIND, item, lambda v: render(ctx, item, v, full=False))


def _backing(ctx: Ctx, name: str, action: str) -> None:
    """Apply a lifecycle step to the backing key and secret; the caller holds the lock."""
    for kind in (keys.KIND, "secrets"):
        if action == "delete" and ctx.store.get(kind, name) is not None:
            ctx.store.soft_delete(kind, name)
        elif action == "recover" and ctx.store.get_deleted(kind, name) is not None:
            ctx.store.recover(kind, name)
        elif action == "purge" and ctx.store.get_deleted(kind, name) is not None:
            ctx.store.purge(kind, name)


def delete_certificate(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = ctx.store.get(KIND, check_name(name))
        if item is None:
            raise not_found(KIND, name)
        if not item.versions:  # only a pending request: deleting drops it
            return delete_operation(ctx, name)
        ctx.store.soft_delete(KIND, name)
        _backing(ctx, name, "delete")
        return 200, lifecycle.with_deleted_fields(ctx, KIND, item, _render_latest)


def get_deleted(ctx: Ctx, name: str) -> Result:
    return lifecycle.get_deleted(ctx, KIND, name, _render_latest)


def list_deleted(ctx: Ctx) -> Result:
    def listed(c: Ctx, i: Item) -> dict[str, Any]:
        out = render(c, i, i.versions[i.latest], full=False)
        out["id"] = f"{c.base}/certificates/{i.name}"
        return out

    return lifecycle.list_deleted(ctx, KIND, listed)


def recover(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = lifecycle.recover(ctx, KIND, name)
        _backing(ctx, name, "recover")
        return 200, _render_latest(ctx, item)


def purge(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        lifecycle.purge(ctx, KIND, name)
        _backing(ctx, name, "purge")
    return 204, {}


def backup(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _live(ctx, name)
        parts = {"certificate": item}
        for kind, role in ((keys.KIND, "key"), ("secrets", "secret")):
            backing = ctx.store.get(kind, name)
            if backing is not None:
                parts[role] = backing
        return 200, {"value": backups.seal(KIND, ctx.store.geography, parts)}


def restore(ctx: Ctx) -> Result:
    parts = backups.unseal(ctx.json_body().get("value"), KIND, ctx.store.geography)
    item = parts["certificate"]
    with ctx.store.lock:
        for kind in (KIND, keys.KIND, "secrets"):
            if ctx.store.get_deleted(kind, item.name) is not None:
                raise deleted_but_recoverable(kind, item.name)
            if ctx.store.get(kind, item.name) is not None:
                raise conflict(
                    f"A {kind[:-1]} named {item.name} already exists. A backup can be restored "
                    "only when the name is not in use."
                )
        for kind, role in ((keys.KIND, "key"), ("secrets", "secret")):
            if role in parts:
                ctx.store.put(kind, parts[role], new_version=parts[role].latest)
        ctx.store.put(KIND, item, new_version=item.latest)
        return 200, _render_latest(ctx, item)
