"""One error hierarchy for kvdr.

Every error a user can act on carries a stable, dotted ``code`` (safe to match on, to count in
reports and to document) and a sentence that says what is wrong and what to do. Messages never
contain secret values.

Every code kvdr emits, with its meaning, HTTP status and what to do, is listed in
:mod:`kvdr.error_codes` (``docs/errors.md`` is generated from it); a test fails for a code in
use that is not listed there.
"""

from __future__ import annotations

from typing import Any


class KvdrError(Exception):
    """Base of every error kvdr raises on purpose. ``code`` is stable; ``message`` is for humans."""

    default_code = "kvdr.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in activity envelopes and reports (activity exception types are
        lost across the Durable boundary, so results carry the code instead)."""
        return {"code": self.code, "message": self.message}


class ConfigError(KvdrError):
    """Invalid configuration. ``setting`` names the TOML dotted path or the app setting."""

    default_code = "config.invalid"

    def __init__(self, setting: str, message: str, *, code: str | None = None) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {message}", code=code)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "setting": self.setting}


class AuthError(KvdrError):
    """No credential could get a token: one summary line, not the SDK's per-credential dump."""

    default_code = "auth.failed"


class TopologyError(KvdrError):
    """The topology record is missing, unreadable, or a transition is not allowed."""

    default_code = "topology.invalid"


# --- Vault errors -------------------------------------------------------------------------------
# Errors returned by a vault, mapped in one place (:func:`vault_error`) from the HTTP status and
# Key Vault's error code (the inner code when there is one), so that callers match on a stable
# ``code`` instead of catching SDK exceptions. kvdr.vault.session turns SDK exceptions into these.


class VaultError(KvdrError):
    """An error returned by (or on the way to) a vault. ``status`` is the HTTP status (None for
    transport errors), ``service_code`` Key Vault's error code, ``region`` the vault's region.
    Messages name the operation, item and region; never a value."""

    default_code = "vault.error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 service_code: str | None = None, region: str | None = None,
                 retry_after: float | None = None) -> None:
        self.status = status
        self.service_code = service_code
        self.region = region
        self.retry_after = retry_after
        super().__init__(message, code=code)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.status is not None:
            data["status"] = self.status
        if self.service_code:
            data["service_code"] = self.service_code
        return data


class VaultNotFoundError(VaultError):
    default_code = "vault.not_found"


class VaultConflictError(VaultError):
    default_code = "vault.conflict"


class VaultDeletedButRecoverableError(VaultConflictError):
    default_code = "vault.deleted_but_recoverable"


class VaultForbiddenError(VaultError):
    default_code = "vault.forbidden"


class VaultPermissionError(VaultForbiddenError):
    """403 because kvdr's identity lacks a role on the vault (``ForbiddenByRbac``, or
    ``AccessDenied`` under access policies): not an item problem, so no other item of the run
    can succeed there either. ``action`` is the data action the vault named, ``role`` the
    built-in role that grants it."""

    default_code = "vault.permission_denied"

    def __init__(self, message: str, *, action: str | None = None, role: str | None = None,
                 **kwargs: Any) -> None:
        self.action = action
        self.role = role
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update({k: v for k, v in (("action", self.action), ("role", self.role)) if v})
        return data


class VaultUnauthenticatedError(VaultError):
    default_code = "vault.unauthenticated"


class VaultBadRequestError(VaultError):
    default_code = "vault.bad_request"


class VaultThrottledError(VaultError):
    default_code = "vault.throttled"


class VaultUnavailableError(VaultError):
    """5xx, or the connection dropped after the request was sent (the outcome is unknown)."""

    default_code = "vault.unavailable"


class VaultUnreachableError(VaultUnavailableError):
    """The request never reached the vault (DNS, connection refused, TLS)."""

    default_code = "vault.unreachable"


# (what to do, per code) — appended to every message
_ADVICE: dict[str, str] = {
    "vault.not_found": "it does not exist (or no longer exists) in this vault",
    "vault.conflict": "the vault state changed underneath; re-run the sync",
    "vault.deleted_but_recoverable": ("the name is soft-deleted there; recover or purge it, or "
                                      "set policies.soft_deleted_target = 'recover'"),
    "vault.forbidden": ("the operation is not allowed (a disabled item, a certificate's backing "
                        "object, or missing RBAC role); check the item and kvdr's role"),
    "vault.permission_denied": "kvdr's identity lacks a role on this vault",
    "vault.unauthenticated": "the credential was rejected; check kvdr's identity and tenant",
    "vault.bad_request": "the vault rejected the request; check the item's name, size and tags",
    "vault.throttled": "the vault is throttling; the sync retries later — lower pacing limits",
    "vault.unavailable": "the vault answered with a server error; retry later",
    "vault.unreachable": "the vault could not be reached; check its URL, DNS and network",
    "vault.error": "unexpected vault response; retry, and check the vault's diagnostics",
}

_BY_CODE: dict[str, type[VaultError]] = {
    cls.default_code: cls for cls in (
        VaultError, VaultNotFoundError, VaultConflictError, VaultDeletedButRecoverableError,
        VaultForbiddenError, VaultPermissionError, VaultUnauthenticatedError, VaultBadRequestError,
        VaultThrottledError, VaultUnavailableError, VaultUnreachableError)}

DELETED_BUT_RECOVERABLE = "ObjectIsDeletedButRecoverable"
# a 403's inner code when the identity lacks the permission (RBAC; access policies)
PERMISSION_CODES = ("ForbiddenByRbac", "AccessDenied")
_ROLE_PREFIX = "Microsoft.KeyVault/vaults/"
# (reads, writes): the built-in roles that grant a kind's data actions (infra/bicep assigns
# kvdr's apps the Officer roles)
_ROLES = {"secrets": ("Key Vault Secrets User", "Key Vault Secrets Officer"),
          "certificates": ("Key Vault Certificate User", "Key Vault Certificates Officer"),
          "keys": ("Key Vault Crypto User", "Key Vault Crypto Officer")}
_KIND_OF = {"certificatecontacts": "certificates", "certificatecas": "certificates",
            "keyrotationpolicies": "keys"}
_READS = ("getSecret/action", "readMetadata/action", "read", "sign/action", "verify/action",
          "encrypt/action", "decrypt/action", "wrap/action", "unwrap/action")


def role_for_action(action: str | None) -> str | None:
    """The built-in role that grants a Key Vault data action (``Microsoft.KeyVault/vaults/
    secrets/setSecret/action`` -> Key Vault Secrets Officer); None for one kvdr cannot name."""
    if not action or not action.startswith(_ROLE_PREFIX):
        return None
    collection, _, rest = action[len(_ROLE_PREFIX):].partition("/")
    roles = _ROLES.get(_KIND_OF.get(collection, collection))
    if roles is None:
        return None
    return roles[0] if rest in _READS else roles[1]


def vault_error_code(status: int | None, service_code: str | None = None, *,
                     reached: bool = True) -> str:
    """The one mapping from an HTTP status (None: no response) and Key Vault's error code to a
    stable ``vault.*`` code. ``reached`` False: the request never left (connection refused)."""
    if status is None:
        return "vault.unavailable" if reached else "vault.unreachable"
    if status == 409:
        return ("vault.deleted_but_recoverable" if service_code == DELETED_BUT_RECOVERABLE
                else "vault.conflict")
    if status == 404:
        return "vault.not_found"
    if status == 403:
        return "vault.permission_denied" if service_code in PERMISSION_CODES else "vault.forbidden"
    if status == 401:
        return "vault.unauthenticated"
    if status == 429:
        return "vault.throttled"
    if status in (400, 405, 413, 414, 415, 422):
        return "vault.bad_request"
    if status >= 500 or status == 408:
        return "vault.unavailable"
    return "vault.error"


def vault_error(status: int | None, service_code: str | None = None, *, what: str,
                region: str | None = None, reached: bool = True,
                retry_after: float | None = None, action: str | None = None) -> VaultError:
    """Build the :class:`VaultError` subclass for a response. ``what`` names the operation and
    item (e.g. ``"set secret 'db-password'"``) — never a value; ``action`` the data action a
    403 named."""
    code = vault_error_code(status, service_code, reached=reached)
    where = f" in region {region}" if region else ""
    got = f"HTTP {status}" if status is not None else "no response"
    if service_code:
        got += f" {service_code}"
    if code == "vault.permission_denied":
        return _permission_error(what, where, got, region=region, action=action,
                                 service_code=service_code)
    message = f"{what}{where} failed ({got}): {_ADVICE[code]}"
    return _BY_CODE[code](message, code=code, status=status, service_code=service_code,
                          region=region, retry_after=retry_after)


def _permission_error(what: str, where: str, got: str, *, region: str | None,
                      action: str | None, service_code: str | None) -> VaultPermissionError:
    """A sentence an operator can act on: the region, what was refused, the role to assign."""
    role = role_for_action(action)
    lacks = f"the permission {action}" if action else "a permission it needs"
    vault = f"region {region}'s vault" if region else "the vault"
    grant = (f"assign it the {role} role on {vault}" if role else
             f"assign it the Key Vault Secrets Officer, Certificates Officer (and Crypto "
             f"Officer, for keys) roles on {vault}")
    message = (f"{what}{where} failed ({got}): kvdr's identity lacks {lacks} there; {grant} "
               "(the Bicep template assigns these to kvdr's apps)")
    return VaultPermissionError(message, action=action, role=role, status=403,
                                service_code=service_code, region=region)
