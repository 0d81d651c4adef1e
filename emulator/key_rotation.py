"""Key rotation: ``GET``/``PUT /keys/{name}/rotationpolicy``, ``POST /keys/{name}/rotate``, and
the clock's due source that runs a policy's ``Rotate`` actions.

A policy is stored on the key's item (``extra["rotation_policy"]``) in its REST shape::

    {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
                         {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
     "attributes": {"expiryTime": "P2Y", "created": 1482188947, "updated": 1482188948}}

As the service does, a policy put without a ``Notify`` action is answered (and kept) with one
added, ``timeBeforeExpiry`` ``P30D``. ``Notify`` is the offset of the key's
``KeyNearExpiry`` event (emulator/expiry.py reads it); ``Rotate`` makes a new version with new
key material of the same type, size or curve and operations, whose ``exp`` is
``expiryTime`` after its creation when the policy sets one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator import jwk
from emulator.clock import DueAction
from emulator.context import Ctx, check_name, new_attributes
from emulator.errors import bad_parameter, forbidden, not_found
from emulator.keys import key_of, make_version, render
from emulator.store import Item, VaultStore, now
from emulator.vaults import Vault

KIND = "keys"
POLICY = "rotation_policy"
Result = tuple[int, dict[str, Any]]
DEFAULT_NOTIFY = {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_ACTIONS = {"rotate": "Rotate", "notify": "Notify"}


def duration(text: str) -> timedelta:
    """An ISO 8601 duration (``P90D``, ``P3M``, ``PT48H``, ``P1Y10D``); a year counts 365
    days and a month 30 (the emulator's approximation of calendar arithmetic)."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    if m is None or text in ("P", "PT") or text.endswith("T"):
        raise bad_parameter(f"Invalid ISO 8601 duration {text!r}.")
    n = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
    days = n["y"] * 365 + n["mo"] * 30 + n["w"] * 7 + n["d"]
    return timedelta(days=days, hours=n["h"], minutes=n["mi"], seconds=n["s"])


def _live(ctx: Ctx, name: str) -> Item:
    item = ctx.store.get(KIND, check_name(name))
    if item is None:
        raise not_found(KIND, name)
    return item


def _render(ctx: Ctx, item: Item, policy: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": f"{ctx.base}/keys/{item.name}/rotationpolicy",
            "lifetimeActions": policy.get("lifetimeActions", []),
            "attributes": policy.get("attributes", {})}


def get_policy(ctx: Ctx, name: str) -> Result:
    """A key without a policy answers the service's default: a 30-day ``Notify``."""
    with ctx.store.lock:
        item = _live(ctx, name)
        policy = item.extra.get(POLICY) or {"lifetimeActions": [DEFAULT_NOTIFY], "attributes": {}}
        return 200, _render(ctx, item, policy)


def _parse_action(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("trigger"), dict):
        raise bad_parameter("Each lifetime action needs a 'trigger' and an 'action'.")
    kind = (raw.get("action") or {}).get("type") if isinstance(raw.get("action"), dict) else None
    if not isinstance(kind, str) or kind.lower() not in _ACTIONS:
        raise bad_parameter("A lifetime action's type must be 'Rotate' or 'Notify'.")
    trigger = {k: v for k, v in raw["trigger"].items()
               if k in ("timeAfterCreate", "timeBeforeExpiry") and v is not None}
    if len(trigger) != 1:
        raise bad_parameter("A trigger sets exactly one of 'timeAfterCreate', 'timeBeforeExpiry'.")
    for value in trigger.values():
        duration(value)
    if kind.lower() == "notify" and "timeBeforeExpiry" not in trigger:
        raise bad_parameter("A 'Notify' action is triggered by 'timeBeforeExpiry'.")
    return {"trigger": trigger, "action": {"type": _ACTIONS[kind.lower()]}}


def update_policy(ctx: Ctx, name: str) -> Result:
    body = ctx.json_body()
    raw_actions = body.get("lifetimeActions") or []
    if not isinstance(raw_actions, list):
        raise bad_parameter("Invalid value for 'lifetimeActions'.")
    actions = [_parse_action(a) for a in raw_actions]
    if not any(a["action"]["type"] == "Notify" for a in actions):
        actions.append(DEFAULT_NOTIFY)
    raw_attrs = body.get("attributes") or {}
    if not isinstance(raw_attrs, dict):
        raise bad_parameter("Invalid value for 'attributes'.")
    expiry = raw_attrs.get("expiryTime")
    if expiry is not None:
        duration(expiry)
    with ctx.store.lock:
        item = _live(ctx, name)
        old = item.extra.get(POLICY) or {}
        t = now()
        attrs: dict[str, Any] = {"created": old.get("attributes", {}).get("created", t),
                                 "updated": t}
        if expiry is not None:
            attrs = {"expiryTime": expiry, **attrs}
        item.extra[POLICY] = {"lifetimeActions": actions, "attributes": attrs}
        ctx.store.put(KIND, item)
        return 200, _render(ctx, item, item.extra[POLICY])


def rotate(store: VaultStore, name: str) -> tuple[Item, str]:
    """Make a new version of ``name`` (hold ``store.lock``): new material, same shape."""
    item = store.get(KIND, name)
    if item is None:
        raise not_found(KIND, name)
    current = item.versions[item.latest]
    if current.data.get("managed"):
        raise forbidden(f"Key {name} is managed by a certificate; renew the certificate.")
    public = current.data["public"]
    kty = public["kty"]
    size = key_of(current).key_size if kty.startswith("RSA") else None
    key = jwk.generate(kty, size, public.get("crv"), None)
    attrs = new_attributes({})
    expiry = (item.extra.get(POLICY) or {}).get("attributes", {}).get("expiryTime")
    if expiry:
        attrs["exp"] = attrs["created"] + int(duration(expiry).total_seconds())
    v = make_version(key, kty, current.data["key_ops"], attrs, dict(current.tags))
    item.add(v)
    store.put(KIND, item, new_version=v.version)
    return item, v.version


def rotate_key(ctx: Ctx, name: str) -> Result:
    with ctx.store.lock:
        item, version = rotate(ctx.store, check_name(name))
        return 200, render(ctx, item, item.versions[version])


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class KeyRotationSource:
    """The clock's due source for every vault's ``Rotate`` lifetime actions: each acts on the
    key's current version, once (a rotation makes a new current version, so the next one is
    measured from it)."""

    def __init__(self, vaults: Mapping[str, Vault]) -> None:
        self.vaults = vaults
        self._done: set[str] = set()

    def due(self, after: datetime, until: datetime) -> list[DueAction]:
        found = []
        for vault in self.vaults.values():
            store = vault.store
            with store.lock:
                for item in store.sorted_live(KIND):
                    found += self._item_due(vault.name, store, item, after, until)
        return found

    def _item_due(self, vault: str, store: VaultStore, item: Item, after: datetime,
                  until: datetime) -> list[DueAction]:
        policy = item.extra.get(POLICY)
        if not policy or not item.latest:
            return []
        v = item.versions[item.latest]
        out = []
        for action in policy.get("lifetimeActions", []):
            if action["action"]["type"] != "Rotate":
                continue
            trigger = action["trigger"]
            if "timeAfterCreate" in trigger:
                when = _at(v.attributes["created"]) + duration(trigger["timeAfterCreate"])
            elif v.attributes.get("exp") is not None:
                when = _at(v.attributes["exp"]) - duration(trigger["timeBeforeExpiry"])
                when = max(when, _at(v.attributes["created"] + 1))
            else:
                continue
            # overdue (a policy put after its time had passed): at the start of this advance
            when = max(when, after + timedelta(microseconds=1))
            what = f"{vault}/keys/{item.name}/{v.version}/Rotate"
            if when <= until and what not in self._done:
                out.append(DueAction(when, what, self._runner(store, item.name, what)))
        return out

    def _runner(self, store: VaultStore, name: str, what: str) -> Callable[[], None]:
        def run() -> None:
            self._done.add(what)
            with store.lock:
                if store.get(KIND, name) is not None:
                    rotate(store, name)

        return run
