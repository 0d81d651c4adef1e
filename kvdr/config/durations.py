"""Human durations in configuration: ``"7d"``, ``"36h"``, ``"1d12h"``, ``"90m"``, ``"3600s"``,
a bare number of seconds (``3600`` or ``"3600"``), or ISO 8601 (``"P7D"``, ``"PT36H"``)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPACT = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(value: object) -> timedelta:
    """Parse a non-negative duration; raise ValueError saying which forms are accepted."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '7d', '36h', '90m' or a number of seconds")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '7d', '36h', '90m' or a number of seconds")
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    for match in (_COMPACT.match(text.lower()), _ISO.match(text.upper())):
        if match and any(match.groups()):
            days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise ValueError(
        f"{value!r} is not a duration; use forms like '7d', '36h', '1d12h', '90m', '3600s', "
        "a whole number of seconds, or ISO 8601 such as 'P7D'")


def format_duration(value: timedelta) -> str:
    """The compact form parse_duration reads back (``"1d12h"``, ``"0s"``)."""
    remaining = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
