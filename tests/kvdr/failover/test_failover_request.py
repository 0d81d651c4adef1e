"""Failover/failback requests: strict parsing of the HTTP body (every 400 says what to send),
the defaults, and the orchestration input's round trip."""

from __future__ import annotations

import json

import pytest

from kvdr.failover.request import (
    DEFAULT_APPROVAL_TIMEOUT_SECONDS,
    FailoverKind,
    FailoverRequest,
    RequestError,
    parse_request,
)

REGIONS = ("east", "west")


def parse(body: object, kind: FailoverKind = FailoverKind.PLANNED, *,
          default_approval: bool = False) -> FailoverRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(raw, kind, REGIONS, default_approval=default_approval)


def valid(**fields: object) -> dict[str, object]:
    return {"target": "west", "reason": "maintenance of east", **fields}


@pytest.mark.parametrize(("raw", "says"), [
    (b"", "send a JSON body"),
    (b"  \n", "send a JSON body"),
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'"west"', "JSON object"),
], ids=["empty", "blank", "not-json", "not-utf8", "array", "string"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(raw: bytes, says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse(raw)
    assert caught.value.code == "runbook.bad_request"
    assert says in caught.value.message


def test_an_empty_body_names_the_configured_regions() -> None:
    with pytest.raises(RequestError, match="east, west"):
        parse(b"")


@pytest.mark.parametrize(("body", "says"), [
    (valid(targets=["west"]), "unknown field(s) targets"),
    (valid(extra=1, other=2), "unknown field(s) extra, other"),
    (valid(target=1), "target must be a JSON string"),
    (valid(reason=["why"]), "reason must be a JSON string"),
    (valid(requested_by=7), "requested_by must be a JSON string"),
    (valid(dry_run="yes"), "dry_run must be a JSON boolean"),
    (valid(dry_run=1), "dry_run must be a JSON boolean"),
    (valid(approval_required="true"), "approval_required must be a JSON boolean"),
    (valid(approval_timeout_seconds="600"), "approval_timeout_seconds must be a JSON whole"),
    (valid(approval_timeout_seconds=600.5), "approval_timeout_seconds must be a JSON whole"),
    (valid(approval_timeout_seconds=True), "approval_timeout_seconds must be a JSON whole"),
    (valid(expected_epoch=True), "expected_epoch must be a JSON whole"),
    (valid(expected_epoch="2"), "expected_epoch must be a JSON whole"),
    (valid(mode=1), "mode must be a JSON string"),
], ids=["unknown-field", "unknown-fields", "target-int", "reason-list", "requested-by-int",
        "dry-run-string", "dry-run-int", "approval-string", "timeout-string", "timeout-float",
        "timeout-bool", "epoch-bool", "epoch-string", "mode-int"])
def test_an_unknown_field_or_a_wrong_type_is_a_bad_request(body: dict[str, object],
                                                           says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse(body)
    assert caught.value.code == "runbook.bad_request"
    assert says in caught.value.message


def test_an_unknown_field_error_lists_the_allowed_fields() -> None:
    with pytest.raises(RequestError) as caught:
        parse(valid(region="west"))
    assert "allowed:" in caught.value.message and "target" in caught.value.message


@pytest.mark.parametrize(("body", "says"), [
    ({"reason": "why"}, "target is required"),
    (valid(target=""), "target is required"),
    (valid(target="mars"), "unknown target region 'mars'; configured: east, west"),
    (valid(target="West"), "unknown target region"),
    ({"target": "west"}, "reason is required"),
    (valid(reason=""), "reason is required"),
    (valid(reason="   "), "reason is required"),
    (valid(reason="x" * 501), "longer than 500 characters"),
    (valid(mode="emergency"), 'mode must be "planned" or "unplanned"'),
    (valid(mode="failback"), 'mode must be "planned" or "unplanned"'),
    (valid(approval_timeout_seconds=59), "between 60 and 604800"),
    (valid(approval_timeout_seconds=7 * 24 * 3600 + 1), "between 60 and 604800"),
    (valid(expected_epoch=0), "expected_epoch must be >= 1"),
    (valid(expected_epoch=-3), "expected_epoch must be >= 1"),
], ids=["no-target", "empty-target", "unknown-target", "target-case", "no-reason",
        "empty-reason", "blank-reason", "long-reason", "bad-mode", "mode-failback",
        "timeout-short", "timeout-long", "epoch-0", "epoch-negative"])
def test_a_request_kvdr_cannot_act_on_is_a_bad_request_that_says_why(
        body: dict[str, object], says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse(body)
    assert caught.value.code == "runbook.bad_request"
    assert says in caught.value.message


def test_a_failback_takes_no_mode() -> None:
    for mode in ("planned", "unplanned"):
        with pytest.raises(RequestError, match="not allowed for a failback") as caught:
            parse(valid(mode=mode), FailoverKind.FAILBACK)
        assert caught.value.code == "runbook.bad_request"


def test_a_minimal_request_gets_the_defaults() -> None:
    request = parse(valid())
    assert request == FailoverRequest(
        kind=FailoverKind.PLANNED, target="west", reason="maintenance of east",
        requested_by="operator", approval_required=False,
        approval_timeout_seconds=DEFAULT_APPROVAL_TIMEOUT_SECONDS, dry_run=False)
    assert request.expected_primary is None and request.expected_epoch is None
    assert request.run_id is None and request.alert_id is None and request.fired_at is None


def test_the_approval_default_comes_from_the_caller() -> None:
    assert parse(valid(), default_approval=True).approval_required is True
    assert parse(valid(approval_required=False), default_approval=True).approval_required \
        is False


def test_the_kind_comes_from_the_route_and_the_mode() -> None:
    assert parse(valid()).kind is FailoverKind.PLANNED
    assert parse(valid(mode="planned")).kind is FailoverKind.PLANNED
    assert parse(valid(mode="unplanned")).kind is FailoverKind.UNPLANNED
    assert parse(valid(), FailoverKind.FAILBACK).kind is FailoverKind.FAILBACK


def test_every_field_given_is_kept_and_the_reason_is_trimmed() -> None:
    request = parse(valid(reason="  east is down  ", mode="unplanned", dry_run=True,
                          approval_required=True, approval_timeout_seconds=60,
                          expected_epoch=4, requested_by=" oncall@contoso "))
    assert request.reason == "east is down"
    assert request.requested_by == "oncall@contoso"
    assert (request.kind, request.dry_run, request.approval_required) == (
        FailoverKind.UNPLANNED, True, True)
    assert (request.approval_timeout_seconds, request.expected_epoch) == (60, 4)


def test_null_fields_count_as_absent() -> None:
    request = parse(valid(mode=None, dry_run=None, expected_epoch=None, requested_by=None))
    assert (request.kind, request.expected_epoch, request.requested_by) == (
        FailoverKind.PLANNED, None, "operator")


def test_a_reason_of_exactly_the_limit_is_accepted() -> None:
    assert len(parse(valid(reason="x" * 500)).reason) == 500


def test_requested_by_falls_back_to_the_caller_and_is_capped() -> None:
    raw = json.dumps(valid(requested_by="   ")).encode()
    assert parse_request(raw, FailoverKind.PLANNED, REGIONS, default_approval=False,
                         caller="pipeline").requested_by == "pipeline"
    assert len(parse(valid(requested_by="a" * 300)).requested_by) == 200


def test_a_request_round_trips_through_its_plain_json_form() -> None:
    request = FailoverRequest(
        kind=FailoverKind.UNPLANNED, target="west", reason="east is down",
        requested_by="alert", approval_required=True, approval_timeout_seconds=900,
        dry_run=True, expected_primary="east", expected_epoch=3, run_id="failover-1",
        alert_id="/subscriptions/x/alerts/1", fired_at="2025-01-02T03:04:05Z")
    data = request.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON: crosses the Durable boundary
    assert data["kind"] == "unplanned"
    assert FailoverRequest.from_dict(data) == request


def test_a_minimal_dict_gets_the_defaults() -> None:
    request = FailoverRequest.from_dict({"kind": "failback", "target": "east", "reason": "r"})
    assert request.kind is FailoverKind.FAILBACK
    assert (request.requested_by, request.approval_required, request.dry_run) == ("", False,
                                                                                 False)
    assert request.approval_timeout_seconds == DEFAULT_APPROVAL_TIMEOUT_SECONDS


def test_a_null_approval_timeout_or_approval_flag_means_the_default() -> None:
    request = parse(valid(approval_timeout_seconds=None, approval_required=None),
                    default_approval=True)
    assert request.approval_timeout_seconds == DEFAULT_APPROVAL_TIMEOUT_SECONDS
    assert request.approval_required is True
