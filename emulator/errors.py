"""Key Vault's error shape and codes, raised by handlers and rendered by the server."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BAD_PARAMETER = "BadParameter"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    CONFLICT = "Conflict"
    THROTTLED = "Throttled"
    NOT_FOUND = "NotFound"
    SECRET_NOT_FOUND = "SecretNotFound"
    KEY_NOT_FOUND = "KeyNotFound"
    CERTIFICATE_NOT_FOUND = "CertificateNotFound"
    PENDING_CERTIFICATE_NOT_FOUND = "PendingCertificateNotFound"
    DELETED_OBJECT_NOT_FOUND = "NotFound"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    INTERNAL_ERROR = "InternalServerError"
    REQUEST_TOO_LARGE = "RequestBodyTooLarge"


class KvError(Exception):
    """An error the service answers with: HTTP status plus Key Vault's JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        inner = {"code": self.inner_code} if self.inner_code else None
        return {"error": {"code": self.code, "message": self.message, "innererror": inner}}


_NOT_FOUND_CODES = {
    "secrets": ErrorCode.SECRET_NOT_FOUND,
    "keys": ErrorCode.KEY_NOT_FOUND,
    "certificates": ErrorCode.CERTIFICATE_NOT_FOUND,
}
_NOUNS = {"secrets": "secret", "keys": "key", "certificates": "certificate"}


def noun(kind: str) -> str:
    return _NOUNS[kind]


def bad_parameter(message: str, inner_code: str | None = None) -> KvError:
    return KvError(400, ErrorCode.BAD_PARAMETER, message, inner_code=inner_code)


def not_found(kind: str, name: str, version: str = "") -> KvError:
    ident = f"{name}/{version}" if version else name
    return KvError(
        404,
        _NOT_FOUND_CODES[kind],
        f"A {noun(kind)} with (name/id) {ident} was not found in this key vault. If you recently "
        "deleted this "
        f"{noun(kind)} you may be able to recover it using the correct recovery command.",
    )


def deleted_not_found(kind: str, name: str) -> KvError:
    return KvError(
        404,
        _NOT_FOUND_CODES[kind],
        f"Deleted {noun(kind)} {name} not found.",
    )


def deleted_but_recoverable(kind: str, name: str) -> KvError:
    return KvError(
        409,
        ErrorCode.CONFLICT,
        f"{noun(kind).capitalize()} {name} is currently in a deleted but recoverable state, and "
        "its name cannot be reused; in this state, the "
        f"{noun(kind)} can only be recovered or purged.",
        inner_code="ObjectIsDeletedButRecoverable",
    )


def conflict(message: str, inner_code: str | None = None) -> KvError:
    return KvError(409, ErrorCode.CONFLICT, message, inner_code=inner_code)


def forbidden(message: str, inner_code: str | None = None) -> KvError:
    return KvError(403, ErrorCode.FORBIDDEN, message, inner_code=inner_code)


def throttled(retry_after: int) -> KvError:
    return KvError(
        429,
        ErrorCode.THROTTLED,
        "Operations per second is over the limit allowed",
        headers={"Retry-After": str(retry_after)},
    )
