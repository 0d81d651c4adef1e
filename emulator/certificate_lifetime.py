"""Certificate lifetime actions on the emulator's clock (emulator/clock.py).

:class:`CertificateLifetime` is a due source over every vault's certificates. For the latest
version of each certificate whose policy has ``lifetime_actions``, each action comes due at its
trigger:

- ``lifetime_percentage`` P: ``nbf + P% * (exp - nbf)`` of that version's validity;
- ``days_before_expiry`` D: ``exp - D days``.

``AutoRenew`` requests a new certificate with the stored policy, as a create does: issuer
``Self`` makes a new version at once (a new key pair unless ``reuse_key``; the backing key and
secret get the version too, and the usual NewVersionCreated events follow); any other issuer
leaves a pending operation (``/certificates/{name}/pending``) for a merge. ``EmailContacts``
emits ``Microsoft.KeyVault.CertificateNearExpiry`` through the Event Grid delivery.

Each action runs at most once per version (the item's ``extra["lifetime"]`` records which ran,
journaled with it), so a renewed certificate's new version gets its own due times. A
certificate with a request in progress (a pending operation) is left alone until it completes.
An action whose time had already passed when the certificate was stored (an import of an old
certificate) runs at the start of the next advance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from emulator.certificate_operations import renew
from emulator.certificate_policy import KIND
from emulator.clock import DueAction
from emulator.context import Ctx
from emulator.eventgrid import EventGridPublisher
from emulator.store import Item, Version
from emulator.vaults import Vault

AUTO_RENEW = "AutoRenew"
EMAIL_CONTACTS = "EmailContacts"
_ACTIONS = (AUTO_RENEW, EMAIL_CONTACTS)
_TICK = timedelta(microseconds=1)


def due_time(v: Version, trigger: Any) -> datetime | None:
    """When ``trigger`` fires for version ``v`` (None: no validity or no usable trigger)."""
    nbf, exp = v.attributes.get("nbf"), v.attributes.get("exp")
    if not isinstance(trigger, dict) or not isinstance(exp, int):
        return None
    percentage = trigger.get("lifetime_percentage")
    days = trigger.get("days_before_expiry")
    if isinstance(percentage, int) and not isinstance(percentage, bool):
        if not isinstance(nbf, int):
            return None
        return datetime.fromtimestamp(nbf + (exp - nbf) * percentage / 100, UTC)
    if isinstance(days, int) and not isinstance(days, bool):
        return datetime.fromtimestamp(exp, UTC) - timedelta(days=days)
    return None


def actions_of(item: Item) -> list[tuple[str, Any]]:
    """The policy's (action type, trigger) pairs the emulator acts on, one per type."""
    found: dict[str, Any] = {}
    for entry in item.extra.get("policy", {}).get("lifetime_actions") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("action"), dict):
            continue
        action_type = entry["action"].get("action_type")
        if action_type in _ACTIONS and action_type not in found:
            found[action_type] = entry.get("trigger")
    return list(found.items())


def _ran(item: Item) -> list[str]:
    record = item.extra.get("lifetime") or {}
    return list(record.get("ran", [])) if record.get("version") == item.latest else []


class CertificateLifetime:
    """The due source of every vault's certificate lifetime actions."""

    def __init__(self, vaults: Mapping[str, Vault], events: EventGridPublisher) -> None:
        self.vaults = vaults
        self.events = events

    def due(self, after: datetime, until: datetime) -> list[DueAction]:
        found: list[DueAction] = []
        for vault in self.vaults.values():
            with vault.store.lock:
                for item in vault.store.sorted_live(KIND):
                    found += self._due_for(vault, item, after, until)
        return found

    def _due_for(self, vault: Vault, item: Item, after: datetime, until: datetime
                 ) -> list[DueAction]:
        v = item.versions.get(item.latest)
        pending = item.extra.get("pending") or {}
        if v is None or pending.get("status") == "inProgress":
            return []
        ran = _ran(item)
        out = []
        for action_type, trigger in actions_of(item):
            when = due_time(v, trigger)
            if when is None or when > until or action_type in ran:
                continue
            when = max(when, after + _TICK)  # overdue: run at the start of this advance
            what = f"{vault.name}/certificates/{item.name}/{v.version}/{action_type}"
            out.append(DueAction(when, what, partial(self._run, vault, item.name, v.version,
                                                     action_type)))
        return out

    def _run(self, vault: Vault, name: str, version: str, action_type: str) -> None:
        store = vault.store
        with store.lock:
            item = store.get(KIND, name)
            if item is None or item.latest != version or action_type in _ran(item):
                return  # renewed, deleted or already done since it was found due
            item.extra["lifetime"] = {"version": version, "ran": [*_ran(item), action_type]}
            store.put(KIND, item)
            v = item.versions[version]
            if action_type == EMAIL_CONTACTS:
                self.events.publish(vault.name, KIND, name, version, "NearExpiry",
                                    nbf=v.attributes.get("nbf"), exp=v.attributes.get("exp"))
                return
            renew(Ctx(store, vault.url.rstrip("/"), None, {}), item)
