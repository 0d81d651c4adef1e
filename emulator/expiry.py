"""Near-expiry and expiry events, fired by the clock (emulator/clock.py) as the service does.

Event Grid's Key Vault schema: ``Microsoft.KeyVault.{Secret,Key,Certificate}NearExpiry`` is
"triggered when the current version … is about to expire" — 30 days before its ``exp`` (for a
key, the ``timeBeforeExpiry`` of its rotation policy's ``Notify`` action, 30 days by default) —
and ``…Expired`` when the current version has expired (at ``exp``). Each is sent once per
version, with ``eventTime`` the clock's time. A version whose near-expiry moment had already
passed when it was created fires a second after its creation (at the next advance).

Certificates fire on their own expiry (the certificate version's ``exp``, its ``notAfter``);
a certificate whose policy has an ``EmailContacts`` lifetime action gets its
``CertificateNearExpiry`` at that action's trigger instead (emulator/certificate_lifetime.py
sends it). The backing key and secret of a certificate (``managed``) fire nothing of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.clock import DueAction
from emulator.eventgrid import EventGridPublisher
from emulator.key_rotation import POLICY, duration
from emulator.store import KINDS, Item, Version
from emulator.vaults import Vault

NEAR_EXPIRY = timedelta(days=30)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def near_expiry_offset(kind: str, item: Item) -> timedelta:
    if kind == "keys":
        policy: dict[str, Any] = item.extra.get(POLICY) or {}
        for action in policy.get("lifetimeActions", []):
            if action["action"]["type"] == "Notify":
                return duration(action["trigger"]["timeBeforeExpiry"])
    return NEAR_EXPIRY


def _emails_contacts(item: Item) -> bool:
    """Whether the certificate's policy has an ``EmailContacts`` lifetime action: its
    ``CertificateNearExpiry`` then comes at that action's trigger, from
    emulator/certificate_lifetime.py, instead of 30 days before expiry."""
    actions = (item.extra.get("policy") or {}).get("lifetime_actions") or []
    return any(isinstance(a, dict) and isinstance(a.get("action"), dict)
               and a["action"].get("action_type") == "EmailContacts" for a in actions)


class ExpiryEvents:
    """The clock's due source for every vault's near-expiry and expiry events."""

    def __init__(self, vaults: Mapping[str, Vault], events: EventGridPublisher) -> None:
        self.vaults = vaults
        self.events = events
        self._sent: set[str] = set()

    def due(self, after: datetime, until: datetime) -> list[DueAction]:
        found: list[DueAction] = []
        for vault in self.vaults.values():
            store = vault.store
            with store.lock:
                for kind in KINDS:
                    for item in store.sorted_live(kind):
                        found += self._item_due(vault.name, kind, item, after, until)
        return found

    def _item_due(self, vault: str, kind: str, item: Item, after: datetime,
                  until: datetime) -> list[DueAction]:
        v = item.versions.get(item.latest)
        exp = v.attributes.get("exp") if v is not None else None
        if v is None or exp is None or (kind != "certificates" and v.data.get("managed")):
            return []
        created = _at(v.attributes.get("created", exp)) + timedelta(seconds=1)
        moments = [("Expired", max(_at(exp), created))]
        if not (kind == "certificates" and _emails_contacts(item)):
            near = _at(exp) - near_expiry_offset(kind, item)
            moments.insert(0, ("NearExpiry", max(near, created)))
        out = []
        for change, when in moments:
            what = f"{vault}/{kind}/{item.name}/{v.version}/{change}"
            if after < when <= until and what not in self._sent:
                out.append(DueAction(when, what, self._sender(vault, kind, item, v, change, what)))
        return out

    def _sender(self, vault: str, kind: str, item: Item, v: Version, change: str,
                what: str) -> Callable[[], None]:
        def send() -> None:
            self._sent.add(what)
            attrs = v.attributes
            self.events.publish(vault, kind, item.name, v.version, change,
                                nbf=attrs.get("nbf"), exp=attrs.get("exp"))

        return send
