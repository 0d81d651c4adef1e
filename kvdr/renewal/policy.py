"""Lifetime actions: the part of a certificate policy or key rotation policy that makes a vault
renew or rotate on its own, and the one rule for disarming them on a copy.

Exactly one vault renews an item: the primary. A copy in any other vault keeps the source's
policy with every *armed* action disarmed:

* certificates: ``AutoRenew`` becomes ``EmailContacts`` at the same trigger (the service keeps a
  notification; it never mints a version). The SDK cannot send an empty list, so a notification
  is also the only way to keep the trigger;
* keys: ``Rotate`` actions are dropped (``Notify`` stays; the service adds its default
  ``Notify`` when none is left).

:class:`RenewalPolicy` holds only the lifetime actions (and a key policy's ``expires_in``), never a
value, and encodes to a short text that fits one tag (:mod:`kvdr.renewal.ledger`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.certificates import LifetimeAction as CertificateLifetimeAction
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy

from kvdr.vault.inventory import ItemKind


class ActionType(StrEnum):
    AUTO_RENEW = "AutoRenew"          # certificate: mint a new version (armed)
    EMAIL_CONTACTS = "EmailContacts"  # certificate: notify only
    ROTATE = "Rotate"                 # key: rotate (armed)
    NOTIFY = "Notify"                 # key: notify only


ARMED_TYPES = frozenset({ActionType.AUTO_RENEW, ActionType.ROTATE})
_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


@dataclass(frozen=True)
class Action:
    """One lifetime action. Certificates trigger at a lifetime ``percentage`` or
    ``days_before_expiry``; keys ``after_create`` or ``before_expiry`` (ISO 8601 durations)."""

    type: ActionType
    percentage: int | None = None
    days_before_expiry: int | None = None
    after_create: str | None = None
    before_expiry: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ActionType(self.type))
        triggers = [t for t in (self.percentage, self.days_before_expiry, self.after_create,
                                self.before_expiry) if t is not None]
        if len(triggers) != 1:
            raise ValueError(f"a {self.type} action needs exactly one trigger")
        for number in (self.percentage, self.days_before_expiry):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)
                                       or number < 0):
                raise ValueError(f"bad trigger {number!r}")
        for text in (self.after_create, self.before_expiry):
            if text is not None and not _DURATION.match(text):
                raise ValueError(f"bad duration {text!r}")

    @property
    def armed(self) -> bool:
        return self.type in ARMED_TYPES

    def encode(self) -> str:
        """``AutoRenew@80%``, ``EmailContacts@30d``, ``Rotate@+P90D``, ``Notify@-P30D``."""
        if self.percentage is not None:
            return f"{self.type}@{self.percentage}%"
        if self.days_before_expiry is not None:
            return f"{self.type}@{self.days_before_expiry}d"
        if self.after_create is not None:
            return f"{self.type}@+{self.after_create}"
        return f"{self.type}@-{self.before_expiry}"

    @classmethod
    def decode(cls, text: str) -> Action:
        kind, sep, trigger = text.partition("@")
        if not sep or not trigger:
            raise ValueError(f"bad lifetime action {text!r}")
        if trigger.endswith("%"):
            return cls(ActionType(kind), percentage=_int(trigger[:-1]))
        if trigger.endswith("d"):
            return cls(ActionType(kind), days_before_expiry=_int(trigger[:-1]))
        if trigger.startswith("+"):
            return cls(ActionType(kind), after_create=trigger[1:])
        if trigger.startswith("-"):
            return cls(ActionType(kind), before_expiry=trigger[1:])
        raise ValueError(f"bad lifetime action trigger {trigger!r}")


def _int(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"bad number {text!r}")
    return int(text)


@dataclass(frozen=True)
class RenewalPolicy:
    """The lifetime actions of one item's policy, in the service's order (plus a key rotation
    policy's ``expires_in``)."""

    kind: ItemKind
    actions: tuple[Action, ...] = ()
    expires_in: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ItemKind(self.kind))
        if self.kind == ItemKind.SECRET:
            raise ValueError("secrets have no lifetime actions")
        allowed = ({ActionType.AUTO_RENEW, ActionType.EMAIL_CONTACTS}
                   if self.kind == ItemKind.CERTIFICATE else
                   {ActionType.ROTATE, ActionType.NOTIFY})
        for action in self.actions:
            if action.type not in allowed:
                raise ValueError(f"a {self.kind} policy cannot hold a {action.type} action")
        if self.expires_in is not None and not _DURATION.match(self.expires_in):
            raise ValueError(f"bad duration {self.expires_in!r}")

    @property
    def armed(self) -> bool:
        """Whether a vault holding this policy renews or rotates on its own."""
        return any(a.armed for a in self.actions)

    def disarmed(self) -> RenewalPolicy:
        """The form a copy holds: the same triggers, no renewal or rotation."""
        kept: list[Action] = []
        for action in self.actions:
            if action.type == ActionType.AUTO_RENEW:
                action = replace(action, type=ActionType.EMAIL_CONTACTS)
            elif action.type == ActionType.ROTATE:
                continue
            if action not in kept:
                kept.append(action)
        return replace(self, actions=tuple(kept))

    def is_disarmed_form_of(self, armed: RenewalPolicy) -> bool:
        """Whether this policy is what :meth:`disarmed` makes of ``armed`` (a key's default
        ``Notify``, which the service adds on its own, is ignored)."""
        want = armed.disarmed()
        if self.kind == ItemKind.KEY:
            return (_without_default_notify(self.actions) ==
                    _without_default_notify(want.actions)
                    and self.expires_in == want.expires_in)
        return self.actions == want.actions

    def same_as(self, other: RenewalPolicy) -> bool:
        """Equal, counting a key's service-added default ``Notify`` as absent."""
        if self.kind == ItemKind.KEY and other.kind == ItemKind.KEY:
            return (_without_default_notify(self.actions) ==
                    _without_default_notify(other.actions)
                    and self.expires_in == other.expires_in)
        return self == other

    def encode(self) -> str:
        """``AutoRenew@80%,EmailContacts@30d`` or, for keys, ``Rotate@+P90D;P1Y`` — short
        enough for one tag (256 characters) with any policy the service accepts."""
        text = ",".join(a.encode() for a in self.actions) or "-"
        return f"{text};{self.expires_in}" if self.expires_in else text

    @classmethod
    def decode(cls, kind: ItemKind | str, text: str) -> RenewalPolicy:
        actions_text, _, expires = text.partition(";")
        actions = () if actions_text in ("", "-") else tuple(
            Action.decode(part) for part in actions_text.split(","))
        return cls(ItemKind(kind), actions, expires or None)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "policy": self.encode(), "armed": self.armed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalPolicy:
        return cls.decode(data["kind"], str(data["policy"]))

    # -- the SDK's models ------------------------------------------------------------------

    @classmethod
    def of_certificate(cls, policy: CertificatePolicy | None) -> RenewalPolicy:
        actions = []
        for a in (policy.lifetime_actions if policy is not None else None) or ():
            kind = str(getattr(a.action, "value", a.action) or "")
            if kind not in (ActionType.AUTO_RENEW, ActionType.EMAIL_CONTACTS):
                continue  # an action type this kvdr does not know: left alone
            try:
                actions.append(Action(ActionType(kind), percentage=a.lifetime_percentage,
                                      days_before_expiry=a.days_before_expiry))
            except ValueError:
                continue  # no usable trigger: the service ignores it too
        return cls(ItemKind.CERTIFICATE, tuple(actions))

    @classmethod
    def of_key(cls, policy: KeyRotationPolicy | None) -> RenewalPolicy:
        actions = []
        for a in (policy.lifetime_actions if policy is not None else None) or ():
            kind = str(getattr(a.action, "value", a.action) or "").capitalize()
            if kind not in (ActionType.ROTATE, ActionType.NOTIFY):
                continue
            try:
                actions.append(Action(ActionType(kind), after_create=a.time_after_create,
                                      before_expiry=a.time_before_expiry))
            except ValueError:
                continue
        return cls(ItemKind.KEY, tuple(actions),
                   policy.expires_in if policy is not None else None)

    def certificate_actions(self) -> list[CertificateLifetimeAction]:
        return [CertificateLifetimeAction(a.type.value, lifetime_percentage=a.percentage,
                                          days_before_expiry=a.days_before_expiry)
                for a in self.actions]

    def key_actions(self) -> list[KeyRotationLifetimeAction]:
        return [KeyRotationLifetimeAction(a.type.value, time_after_create=a.after_create,
                                          time_before_expiry=a.before_expiry)
                for a in self.actions]


DEFAULT_NOTIFY = Action(ActionType.NOTIFY, before_expiry="P30D")


def _without_default_notify(actions: Iterable[Action]) -> tuple[Action, ...]:
    return tuple(a for a in actions if a != DEFAULT_NOTIFY)


# The certificate policy's fields other than lifetime actions and attributes, as the SDK names
# them: a change of any of them in the primary's policy replicates to the copies.
POLICY_FIELDS = (
    "issuer_name", "subject", "exportable", "key_type", "key_size", "reuse_key",
    "key_curve_name", "enhanced_key_usage", "key_usage", "content_type", "validity_in_months",
    "certificate_type", "certificate_transparency", "san_emails", "san_dns_names",
    "san_user_principal_names", "san_ip_addresses", "san_uris")


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(sorted(_plain(v) for v in value))
    value = getattr(value, "value", value)
    return value.lower() if isinstance(value, str) else value


def policy_shape(policy: CertificatePolicy | None) -> dict[str, Any]:
    """What a certificate policy says besides its lifetime actions, for comparison."""
    if policy is None:
        return {}
    return {f: _plain(getattr(policy, f, None)) for f in POLICY_FIELDS
            if getattr(policy, f, None) not in (None, [], ())}


def with_actions(policy: CertificatePolicy, renewal: RenewalPolicy) -> CertificatePolicy:
    """A copy of ``policy`` whose lifetime actions are ``renewal``'s (for an import or an
    update: the service merges the fields sent)."""
    fields = {f: getattr(policy, f, None) for f in POLICY_FIELDS if f != "issuer_name"}
    return CertificatePolicy(policy.issuer_name,
                             **{k: v for k, v in fields.items() if v is not None},
                             lifetime_actions=renewal.certificate_actions() or None)
