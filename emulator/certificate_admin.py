"""Certificate contacts (``/certificates/contacts``) and issuers (``/certificates/issuers``).

Shapes follow the REST API (Contacts; IssuerBundle, CertificateIssuerItem): contacts are one
list per vault; an issuer has a provider, credentials, organization details and attributes.
The issuer's password (``credentials.pwd``) is write-only: accepted, never stored or returned
(the service's answers carry ``credentials.account_id`` only). Missing objects answer as the
service does: 404 ``ContactsNotFound`` / ``CertificateIssuerNotFound``.
"""

from __future__ import annotations

from typing import Any

from emulator.context import Ctx, check_name, opt, page
from emulator.errors import KvError, bad_parameter
from emulator.store import Item, now

ISSUERS = "certificate-issuers"
CONTACTS = "certificate-contacts"
_CONTACTS_ITEM = "contacts"
Result = tuple[int, dict[str, Any]]


def _strings(raw: Any, fields: tuple[str, ...], what: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise bad_parameter(f"Invalid value for '{what}'.")
    return {f: v for f in fields if (v := opt(raw, f, str, f"{what}.{f}")) is not None}


# ---- contacts -------------------------------------------------------------------------------
def _contacts_not_found() -> KvError:
    return KvError(404, "ContactsNotFound", "Contacts not found")


def _render_contacts(ctx: Ctx, item: Item) -> dict[str, Any]:
    return {"id": f"{ctx.base}/certificates/contacts", "contacts": item.extra["contacts"]}


def set_contacts(ctx: Ctx) -> Result:
    raw = ctx.json_body().get("contacts")
    if not isinstance(raw, list):
        raise bad_parameter("'contacts' must be a list of contacts.")
    contacts = [_strings(c, ("email", "name", "phone"), "contacts") for c in raw]
    with ctx.store.lock:
        item = Item(_CONTACTS_ITEM, extra={"contacts": contacts})
        ctx.store.put(CONTACTS, item)
        return 200, _render_contacts(ctx, item)


def get_contacts(ctx: Ctx) -> Result:
    with ctx.store.lock:
        item = ctx.store.get(CONTACTS, _CONTACTS_ITEM)
        if item is None:
            raise _contacts_not_found()
        return 200, _render_contacts(ctx, item)


def delete_contacts(ctx: Ctx) -> Result:
    with ctx.store.lock:
        item = ctx.store.get(CONTACTS, _CONTACTS_ITEM)
        if item is None:
            raise _contacts_not_found()
        ctx.store.remove(CONTACTS, _CONTACTS_ITEM)
        return 200, _render_contacts(ctx, item)


def contacts_of(store: Any) -> list[dict[str, str]]:
    """The vault's certificate contacts (empty when none are set); the caller holds the lock."""
    item = store.get(CONTACTS, _CONTACTS_ITEM)
    return list(item.extra["contacts"]) if item is not None else []


# ---- issuers --------------------------------------------------------------------------------
def _issuer_not_found() -> KvError:
    return KvError(404, "CertificateIssuerNotFound", "Issuer not found")


def _merge_issuer(issuer: dict[str, Any], body: dict[str, Any]) -> None:
    provider = opt(body, "provider", str, "provider")
    if provider is not None:
        issuer["provider"] = provider
    if body.get("credentials") is not None:
        creds = _strings(body["credentials"], ("account_id", "pwd"), "credentials")
        if "account_id" in creds:
            issuer["account_id"] = creds["account_id"]
    if body.get("org_details") is not None:
        org = body["org_details"]
        if not isinstance(org, dict):
            raise bad_parameter("Invalid value for 'org_details'.")
        details: dict[str, Any] = _strings(org, ("id",), "org_details")
        admins = org.get("admin_details")
        if admins is not None:
            if not isinstance(admins, list):
                raise bad_parameter("Invalid value for 'org_details.admin_details'.")
            fields = ("first_name", "last_name", "email", "phone")
            details["admin_details"] = [_strings(a, fields, "admin_details") for a in admins]
        issuer["org_details"] = details
    attrs = body.get("attributes")
    if attrs is not None:
        if not isinstance(attrs, dict):
            raise bad_parameter("Invalid value for 'attributes'.")
        enabled = opt(attrs, "enabled", bool, "enabled")
        if enabled is not None:
            issuer["enabled"] = enabled


def _render_issuer(ctx: Ctx, item: Item) -> dict[str, Any]:
    issuer = item.extra["issuer"]
    out: dict[str, Any] = {
        "id": f"{ctx.base}/certificates/issuers/{item.name}",
        "provider": issuer["provider"],
    }
    if "account_id" in issuer:
        out["credentials"] = {"account_id": issuer["account_id"]}
    if "org_details" in issuer:
        out["org_details"] = issuer["org_details"]
    out["attributes"] = {
        "enabled": issuer.get("enabled", True),
        "created": issuer["created"],
        "updated": issuer["updated"],
    }
    return out


def set_issuer(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    if not isinstance(body.get("provider"), str) or not body["provider"]:
        raise bad_parameter("The issuer 'provider' is required.")
    with ctx.store.lock:
        t = now()
        issuer: dict[str, Any] = {"created": t, "updated": t}
        _merge_issuer(issuer, body)
        item = Item(check_name(name), extra={"issuer": issuer})
        ctx.store.put(ISSUERS, item)
        return 200, _render_issuer(ctx, item)


def _issuer(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(ISSUERS, check_name(name))
    if item is None:
        raise _issuer_not_found()
    return item


def get_issuer(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        return 200, _render_issuer(ctx, _issuer(ctx, name))


def update_issuer(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    with ctx.store.lock:
        item = _issuer(ctx, name)
        _merge_issuer(item.extra["issuer"], body)
        item.extra["issuer"]["updated"] = now()
        ctx.store.put(ISSUERS, item)
        return 200, _render_issuer(ctx, item)


def delete_issuer(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item = _issuer(ctx, name)
        ctx.store.remove(ISSUERS, item.name)
        return 200, _render_issuer(ctx, item)


def list_issuers(ctx: Ctx) -> Result:
    with ctx.store.lock:
        items = ctx.store.sorted_live(ISSUERS)

        def listed(i: Item) -> dict[str, Any]:
            return {
                "id": f"{ctx.base}/certificates/issuers/{i.name}",
                "provider": i.extra["issuer"]["provider"],
            }

        return 200, page(ctx, "certificates/issuers", items, listed)
