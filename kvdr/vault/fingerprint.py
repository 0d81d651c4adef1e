"""Keyed fingerprints of secret material: HMAC-SHA256 under a deployment key, truncated to
128 bits of hex. Computed only inside activities; the value never leaves, the fingerprint may
(reports, plan verification). Without the key a fingerprint cannot be checked against a guess,
and the ``context`` (e.g. ``"secret/db-password"``) is mixed in so two items holding the same
value do not show equal fingerprints.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from kvdr.config.schema import FINGERPRINT_KEY_SETTING, MIN_FINGERPRINT_KEY_LENGTH
from kvdr.errors import ConfigError

FINGERPRINT_HEX_CHARS = 32
_DOMAIN = b"kvdr-fingerprint-v1\x00"


def fingerprint(key: bytes, value: str | bytes, *, context: str) -> str:
    """The fingerprint of ``value`` for the item named by ``context``."""
    if len(key) < MIN_FINGERPRINT_KEY_LENGTH:
        raise ValueError(f"fingerprint key must be at least {MIN_FINGERPRINT_KEY_LENGTH} bytes")
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    message = _DOMAIN + context.encode("utf-8") + b"\x00" + data
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX_CHARS]


def fingerprints_match(a: str | None, b: str | None) -> bool:
    """Constant-time equality; None never matches."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def key_from_env(env: Mapping[str, str], setting: str = FINGERPRINT_KEY_SETTING) -> bytes:
    """Read the fingerprint key from ``env`` (``os.environ`` in an activity)."""
    value = (env.get(setting) or "").strip()
    if not value:
        raise ConfigError(setting, "the fingerprint key is not set; set it to a random value of "
                          f"at least {MIN_FINGERPRINT_KEY_LENGTH} characters (e.g. `openssl "
                          "rand -hex 32`), the same in every region", code="config.missing")
    if len(value) < MIN_FINGERPRINT_KEY_LENGTH:
        raise ConfigError(setting, f"must be at least {MIN_FINGERPRINT_KEY_LENGTH} characters")
    return value.encode("utf-8")
