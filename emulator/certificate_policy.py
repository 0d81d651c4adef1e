"""Certificate policies: the default, a request's policy merged over the stored one, how the
service renders it, and the policy operations (get, update)."""

from __future__ import annotations

import copy
from typing import Any

from emulator import x509build
from emulator.context import Ctx, check_name, parse_attributes
from emulator.errors import bad_parameter, not_found
from emulator.store import Item, now

KIND = "certificates"
Result = tuple[int, dict[str, Any]]


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


def parse_policy(raw: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
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
        item.extra["policy"] = parse_policy(body, item.extra["policy"])
        ctx.store.put(KIND, item)
        return 200, render_policy(ctx, item)
