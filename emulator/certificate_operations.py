"""Certificate creation and its pending operation: a self-signed certificate completes at
once, any other issuer stays pending until a signed certificate is merged."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from emulator import jwk, keys, x509build
from emulator.certificate_policy import KIND, parse_policy
from emulator.certificate_versions import add_version, check_free, render
from emulator.context import Ctx, check_name, new_attributes, opt, parse_attributes, parse_tags
from emulator.errors import ErrorCode, KvError, bad_parameter, conflict, deleted_but_recoverable
from emulator.store import Item, now

Result = tuple[int, dict[str, Any]]
_SELF = "self"


def render_operation(ctx: Ctx, item: Item) -> dict[str, Any]:
    op = dict(item.extra["pending"])
    op.pop("pem", None)
    op["id"] = f"{ctx.base}/certificates/{item.name}/pending"
    if op.get("status") == "completed":
        op["target"] = f"{ctx.base}/certificates/{item.name}"
    return op


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
        policy = parse_policy(body.get("policy") or {}, base)
        if ctx.store.get_deleted(KIND, name) is not None:
            raise deleted_but_recoverable(KIND, name)
        check_free(ctx, name)
    key = new_key(policy)
    with ctx.store.lock:
        item = ctx.store.get(KIND, name) or Item(name, extra={"created": now()})
        item.extra["policy"] = policy
        if not request(ctx, item, key, attrs, tags):
            return 202, render_operation(ctx, item)
        # Like Key Vault, answer "inProgress": the SDK's poller then reads the operation
        # (already completed) and fetches the certificate.
        out = render_operation(ctx, item)
        out.update(status="inProgress", target=None)
        return 202, out


def new_key(policy: dict[str, Any]) -> jwk.PrivateKey:
    key_props = policy["key_props"]
    kty = key_props.get("kty") or "RSA"
    return jwk.generate(kty, key_props.get("key_size"), key_props.get("crv"), None)


def request(
    ctx: Ctx, item: Item, key: jwk.PrivateKey, attrs: dict[str, Any], tags: dict[str, str]
) -> bool:
    """Request a certificate for ``item``'s policy and ``key`` (the caller holds the lock):
    issuer ``Self`` completes at once with a new version (True); any other issuer leaves a
    pending operation with a CSR, completed by a merge (False)."""
    policy = item.extra["policy"]
    issuer = str(policy["issuer"].get("name") or "Unknown")
    csr_der = x509build.csr(key, policy["x509_props"])
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
    if issuer.lower() != _SELF:
        ctx.store.put(KIND, item)
        return False
    # valid from the emulator's time (now() follows the clock inside a request or due action)
    cert = x509build.self_signed(key, policy["x509_props"], datetime.fromtimestamp(now(), UTC))
    item.extra["pending"].update(status="completed", status_details=None)
    item.extra["pending"].pop("pem")
    add_version(ctx, item, key, cert, attrs, tags)
    return True


def renew(ctx: Ctx, item: Item) -> bool:
    """A lifetime action's ``AutoRenew`` (the caller holds the lock): a request as a create
    with the stored policy makes — a new key pair unless the policy's ``reuse_key`` — whose
    version keeps the current one's tags. Answers whether a version was made."""
    policy = item.extra["policy"]
    latest = item.versions[item.latest]
    key: jwk.PrivateKey | None = None
    if policy["key_props"].get("reuse_key"):
        backing = ctx.store.get(keys.KIND, item.name)
        if backing is not None and item.latest in backing.versions:
            key = keys.key_of(backing.versions[item.latest])
    return request(ctx, item, key or new_key(policy), new_attributes({}), dict(latest.tags))


def _pending(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None or "pending" not in item.extra:
        raise KvError(
            404, ErrorCode.PENDING_CERTIFICATE_NOT_FOUND, f"Pending certificate not found: {name}"
        )
    return item


def get_operation(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        return 200, render_operation(ctx, _pending(ctx, name))


def update_operation(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    cancel = opt(body, "cancellation_requested", bool, "cancellation_requested")
    with ctx.store.lock:
        item = _pending(ctx, name)
        op = item.extra["pending"]
        if cancel and op["status"] == "inProgress":
            op.update(cancellation_requested=True, status="cancelled")
            ctx.store.put(KIND, item)
        return 200, render_operation(ctx, item)


def delete_operation(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _pending(ctx, name)
        out = render_operation(ctx, item)
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
        v = add_version(ctx, item, key, cert, attrs, tags)
        return 201, render(ctx, item, v)
