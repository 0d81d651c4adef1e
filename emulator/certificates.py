"""Certificates: import PFX/PEM, get, update, versions, list, soft-delete lifecycle,
backup/restore — applied to the backing key and secret too. Creation and the pending operation
are in emulator.certificate_operations, policies in emulator.certificate_policy."""

from __future__ import annotations

from typing import Any

from emulator import backups, keys, lifecycle, x509build
from emulator.certificate_operations import delete_operation
from emulator.certificate_policy import KIND, default_policy, parse_policy
from emulator.certificate_versions import add_version, check_free, live, render, render_latest
from emulator.context import (
    Ctx,
    check_name,
    new_attributes,
    opt,
    page,
    parse_attributes,
    parse_tags,
    version_of,
    versions_page,
)
from emulator.errors import bad_parameter, conflict, deleted_but_recoverable, not_found
from emulator.store import Item, now

Result = tuple[int, dict[str, Any]]


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
        check_free(ctx, name)
        existing = ctx.store.get(KIND, name)
        base = existing.extra["policy"] if existing else default_policy()
        if not existing:
            base["issuer"] = {"name": "Unknown"}
            # as the service answers an import without a policy: notify, never renew
            base["lifetime_actions"] = [{"trigger": {"lifetime_percentage": 80},
                                         "action": {"action_type": "EmailContacts"}}]
            base["key_props"] = {"exportable": True, "reuse_key": False}
            base["key_props"].update(x509build.key_props_of(key))
            base["x509_props"] = {"subject": x509build.subject_of(cert), "validity_months": 12}
            if x509build.sans_of(cert):
                base["x509_props"]["sans"] = x509build.sans_of(cert)
        base["secret_props"] = {"contentType": content_type}
        policy = parse_policy(raw_policy, base)
        policy["secret_props"]["contentType"] = content_type
        item = existing or Item(name, extra={"created": now()})
        item.extra["policy"] = policy
        v = add_version(ctx, item, key, cert, attrs, tags)
        return 200, render(ctx, item, v)


def get_certificate(ctx: Ctx, name: str, version: str = "") -> Result:
    with ctx.store.lock:
        item = live(ctx, name)
        v = version_of(item, KIND, name, version)
        return 200, render(ctx, item, v)


def update_certificate(ctx: Ctx, name: str, version: str = "") -> Result:
    body = ctx.json_body()
    attrs = parse_attributes(body)
    tags = parse_tags(body)
    with ctx.store.lock:
        item = live(ctx, name)
        v = version_of(item, KIND, name, version)
        if body.get("policy") is not None:
            item.extra["policy"] = parse_policy(body["policy"], item.extra["policy"])
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
        item = live(ctx, name)
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
        return 200, lifecycle.with_deleted_fields(ctx, KIND, item, render_latest)


def get_deleted(ctx: Ctx, name: str) -> Result:
    return lifecycle.get_deleted(ctx, KIND, name, render_latest)


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
        return 200, render_latest(ctx, item)


def purge(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        lifecycle.purge(ctx, KIND, name)
        _backing(ctx, name, "purge")
    return 204, {}


def backup(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = live(ctx, name)
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
        return 200, render_latest(ctx, item)
