"""Reading a restore request: TIME as an ISO time with a zone or a duration ago, refused in the
future or beyond what a vault keeps; the scope; every other field strictly — each refusal with
a stable code and a sentence that says what to send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kvdr.restore.model import RestoreScope
from kvdr.restore.request import (
    CLOCK_SKEW,
    MAX_AGE,
    RestoreRequest,
    RestoreRequestError,
    parse_as_of,
    parse_request,
)
from kvdr.vault.inventory import ItemKind

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def parse(body: object, **kw) -> RestoreRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(raw, now=NOW, **kw)


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", NOW - timedelta(hours=2)),
    ("30m", NOW - timedelta(minutes=30)),
    ("1d12h", NOW - timedelta(days=1, hours=12)),
    ("P1D", NOW - timedelta(days=1)),
    ("2025-03-01T02:00:00Z", datetime(2025, 3, 1, 2, tzinfo=UTC)),
    ("2025-03-01T03:30:00+01:00", datetime(2025, 3, 1, 2, 30, tzinfo=UTC)),
    (" 2025-02-28T23:59:59.500Z ", datetime(2025, 2, 28, 23, 59, 59, 500000, tzinfo=UTC)),
    # a few seconds ahead is the caller's clock against the vault's, not a future moment
    ("2025-03-01T12:04:00Z", datetime(2025, 3, 1, 12, 4, tzinfo=UTC)),
])
def test_time_is_an_iso_time_with_a_zone_or_a_duration_ago_in_utc(text, expected) -> None:
    moment = parse_as_of(text, NOW)
    assert moment == expected and moment.tzinfo == UTC


@pytest.mark.parametrize(("text", "says"), [
    ("", "as_of is required"),
    ("yesterday", "neither an ISO 8601 time"),
    ("2024", "neither an ISO 8601 time"),        # a bare number is no duration here
    ("0s", "greater than zero"),
    ("2025-03-01T02:00:00", "has no time zone"),
    ("2025-03-01T12:06:00Z", "in the future"),
    ("91d", "more than 90 days ago"),
])
def test_a_time_kvdr_cannot_restore_to_is_refused_with_restore_bad_time(text, says) -> None:
    with pytest.raises(RestoreRequestError) as raised:
        parse({"as_of": text})
    assert raised.value.code == "restore.bad_time"
    assert says in raised.value.message


def test_the_limits_are_the_clock_skew_ahead_and_ninety_days_back() -> None:
    assert parse_as_of(((NOW + CLOCK_SKEW).isoformat()), NOW) == NOW + CLOCK_SKEW
    assert parse_as_of((NOW - MAX_AGE).isoformat(), NOW) == NOW - MAX_AGE
    for beyond in (NOW + CLOCK_SKEW + timedelta(seconds=1),
                   NOW - MAX_AGE - timedelta(seconds=1)):
        with pytest.raises(RestoreRequestError):
            parse_as_of(beyond.isoformat(), NOW)


def test_a_minimal_body_restores_everything_after_an_approval() -> None:
    request = parse({"as_of": "2h"}, caller="oncall@contoso")
    assert request.as_of == NOW - timedelta(hours=2)
    assert request.scope == RestoreScope()
    assert request.scope.kinds == (ItemKind.SECRET, ItemKind.CERTIFICATE, ItemKind.KEY)
    assert (request.approval_required, request.dry_run, request.disable_new) == (
        True, False, False)
    assert (request.requested_by, request.reason) == ("oncall@contoso", "")


def test_every_field_is_read_and_round_trips() -> None:
    request = parse({"as_of": "2025-03-01T02:00:00Z", "names": ["app-*", "db-?"],
                     "kinds": ["certificates", "secrets"], "disable_new": True,
                     "dry_run": True, "approval_required": False,
                     "approval_timeout_seconds": 600, "requested_by": " pipeline ",
                     "reason": " bad rotation at 02:00 "})
    assert request.scope == RestoreScope((ItemKind.SECRET, ItemKind.CERTIFICATE),
                                         ("app-*", "db-?"))
    assert (request.disable_new, request.dry_run, request.approval_required) == (
        True, True, False)
    assert request.approval_timeout_seconds == 600
    assert (request.requested_by, request.reason) == ("pipeline", "bad rotation at 02:00")
    assert RestoreRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert request.to_dict()["as_of"] == "2025-03-01T02:00:00Z"


def test_kinds_may_be_the_command_lines_comma_list() -> None:
    assert parse({"as_of": "1h", "kinds": "keys, secrets"}).scope.kinds == (
        ItemKind.SECRET, ItemKind.KEY)


@pytest.mark.parametrize(("raw", "says"), [
    (b"", "send a JSON body"),
    (b"not json", "not JSON"),
    (b'["2h"]', "JSON object"),
    (b'{"as_of": "2h", "force": true}', "unknown field(s) force"),
    (b'{"as_of": 2}', "as_of must be a JSON string"),
    (b'{"as_of": "2h", "dry_run": "yes"}', "dry_run must be a JSON boolean"),
    (b'{"as_of": "2h", "approval_timeout_seconds": true}', "whole number"),
    (b'{"as_of": "2h", "approval_timeout_seconds": 5}', "between 60"),
    (b'{"as_of": "2h", "names": "app-*"}', "names must be a JSON array"),
    (b'{"as_of": "2h", "names": []}', "non-empty list of name globs"),
    (b'{"as_of": "2h", "names": ["app_*"]}', "is not one kvdr can match"),
    (b'{"as_of": "2h", "names": ["a*", "A*"]}', "lists a glob twice"),
    (b'{"as_of": "2h", "kinds": ["passwords"]}', "unknown kind(s) 'passwords'"),
    (b'{"as_of": "2h", "kinds": []}', "non-empty list"),
    (b'{"as_of": "2h", "kinds": ["secret", "secrets"]}', "lists a kind twice"),
    (b'{"as_of": "2h", "reason": "' + b"x" * 501 + b'"}', "longer than 500"),
])
def test_a_bad_body_is_refused_with_restore_bad_request(raw: bytes, says: str) -> None:
    with pytest.raises(RestoreRequestError) as raised:
        parse(raw)
    assert raised.value.code == "restore.bad_request"
    assert says in raised.value.message
