"""One error hierarchy for kvdr.

Every error a user can act on carries a stable, dotted ``code`` (safe to match on, to count in
reports and to document) and a sentence that says what is wrong and what to do. Messages never
contain secret values.

Codes in use:

| code | raised when |
| --- | --- |
| ``config.missing`` | a required setting is absent |
| ``config.invalid`` | a setting has a value kvdr cannot accept |
| ``config.unknown`` | a setting/key kvdr does not know (typo safety) |
| ``topology.missing`` | no vault holds a readable topology record |
| ``topology.invalid`` | a topology record cannot be parsed or a transition is not allowed |
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


class TopologyError(KvdrError):
    """The topology record is missing, unreadable, or a transition is not allowed."""

    default_code = "topology.invalid"


# --- Vault errors -------------------------------------------------------------------------------
# The vault-access issue adds the errors mapped from Key Vault HTTP responses here, in one place
# (one function from status code + service error code to a subclass below), so that activities
# never need try/except soup around SDK exceptions. Planned codes: vault.not_found (404),
# vault.forbidden (403, e.g. reading a disabled secret), vault.deleted_but_recoverable
# (409 ObjectIsDeletedButRecoverable), vault.conflict (other 409), vault.throttled (429, with
# retry_after), vault.unavailable (5xx / transport), vault.unauthenticated (401).


class VaultError(KvdrError):
    """Base for errors returned by a vault; subclasses and the HTTP mapping come later."""

    default_code = "vault.error"
