"""Parsing Key Vault events: the Event Grid schema, CloudEvents 1.0, the validation handshake,
queue messages (plain or base64 JSON) and malformed input (a clear EventError)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from kvdr.config.loading import load_toml
from kvdr.events.model import (
    EventChange,
    EventOutcome,
    EventStatus,
    IgnoreReason,
    OtherEvent,
    VaultEvent,
    event_type_name,
    split_event_type,
)
from kvdr.events.parse import (
    EventError,
    decode_body,
    parse_delivery,
    parse_event,
    region_for_event,
)
from kvdr.events.stats import empty_stats, percentile, record_begin, record_end
from kvdr.vault.inventory import ItemKind

TOPIC = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-kvdr/providers/"
         "Microsoft.KeyVault/vaults/kv-east")


def grid_event(**overrides) -> dict:
    event = {
        "id": "e1", "topic": TOPIC, "subject": "db-password",
        "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
        "eventTime": "2026-03-01T12:00:00.1234567Z",
        "data": {"Id": "https://kv-east.vault.azure.net/secrets/db-password/abc123",
                 "VaultName": "kv-east", "ObjectType": "Secret", "ObjectName": "db-password",
                 "Version": "abc123", "NBF": None, "EXP": "1900000000"},
        "dataVersion": "1", "metadataVersion": "1"}
    event.update(overrides)
    return event


def cloud_event(**overrides) -> dict:
    event = {"specversion": "1.0", "id": "c1", "source": TOPIC, "subject": "api-key",
             "type": "Microsoft.KeyVault.KeyNewVersionCreated", "time": "2026-03-01T12:00:01Z",
             "data": {"Id": "https://kv-east.vault.azure.net/keys/api-key/def",
                      "VaultName": "kv-east", "ObjectType": "Key", "ObjectName": "api-key",
                      "Version": "def", "NBF": 1700000000.0, "EXP": None}}
    event.update(overrides)
    return event


def test_event_grid_schema_array_becomes_vault_events() -> None:
    delivery = parse_delivery(json.dumps([grid_event()]))
    [event] = delivery.events
    assert event == VaultEvent(
        id="e1", kind=ItemKind.SECRET, change=EventChange.NEW_VERSION, vault_name="kv-east",
        name="db-password", version="abc123", topic=TOPIC, subject="db-password",
        event_time=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        object_id="https://kv-east.vault.azure.net/secrets/db-password/abc123",
        not_before=None, expires=1900000000)
    assert delivery.validation_code is None and not delivery.others
    assert VaultEvent.from_dict(event.to_dict()) == event
    assert event.event_type == "Microsoft.KeyVault.SecretNewVersionCreated"


def test_cloud_events_are_read_too() -> None:
    [event] = parse_delivery(cloud_event()).events
    assert (event.kind, event.change, event.name, event.version, event.not_before) == (
        ItemKind.KEY, EventChange.NEW_VERSION, "api-key", "def", 1700000000)
    assert event.topic == TOPIC and event.event_time == datetime(2026, 3, 1, 12, 0, 1,
                                                                 tzinfo=UTC)


def test_the_validation_handshake_is_recognised() -> None:
    delivery = parse_delivery([{"id": "v", "topic": TOPIC, "subject": "",
                                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                                "eventTime": "2026-03-01T12:00:00Z",
                                "data": {"validationCode": "CODE-1"}, "dataVersion": "2"}])
    assert delivery.validation_code == "CODE-1" and not delivery.events


def test_queue_messages_may_be_plain_or_base64_json() -> None:
    text = json.dumps(grid_event())
    assert decode_body(text) == decode_body(base64.b64encode(text.encode())) == grid_event()
    assert parse_delivery(base64.b64encode(text.encode()).decode()).events[0].id == "e1"


@pytest.mark.parametrize("change", list(EventChange))
@pytest.mark.parametrize("kind", list(ItemKind))
def test_every_item_event_type_round_trips(kind, change) -> None:
    name = event_type_name(kind, change)
    assert split_event_type(name) == (kind, change)
    object_type = str(kind).capitalize()
    [event] = parse_delivery(grid_event(eventType=name, data={
        **grid_event()["data"], "ObjectType": object_type})).events
    assert (event.kind, event.change) == (kind, change)


def test_other_event_types_are_ignored_with_a_reason() -> None:
    delivery = parse_delivery([grid_event(eventType="Microsoft.KeyVault.VaultAccessPolicyChanged",
                                          data={}), grid_event(id="e2")])
    assert delivery.others == (OtherEvent("e1", "Microsoft.KeyVault.VaultAccessPolicyChanged",
                                          IgnoreReason.UNSUPPORTED),)
    assert [e.id for e in delivery.events] == ["e2"]


def test_data_field_casing_and_missing_vault_name_are_tolerated() -> None:
    data = {"id": "x", "objecttype": "Secret", "objectname": "db-password", "version": "v1"}
    event = parse_event(grid_event(data=data))
    assert (event.vault_name, event.name, event.version) == ("kv-east", "db-password", "v1")


@pytest.mark.parametrize(("body", "message"), [
    ("", "empty"),
    ("not json", "neither JSON nor base64"),
    ("[]", "no events"),
    ("[1]", "expected an event object"),
    (json.dumps(grid_event(id="")), "without an id"),
    (json.dumps(grid_event(eventType=None)), "no event type"),
    (json.dumps(grid_event(data="nope")), "'data' must be an object"),
    (json.dumps(grid_event(data={"VaultName": "kv-east", "ObjectName": "x"})),
     "data.Version is missing"),
    (json.dumps(grid_event(eventTime="yesterday")), "not ISO 8601"),
    (json.dumps(grid_event(data={**grid_event()["data"], "ObjectType": "Key"})), "contradicts"),
    (json.dumps(cloud_event(specversion="0.3")), "specversion"),
    (json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "id": "v",
                  "data": {}}]), "validationCode"),
    # shapes that raised AttributeError/OverflowError/RecursionError (a 500, retried for 24 h)
    (json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "id": "v",
                  "data": ["code"]}]), "validationCode"),
    (json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "id": "v",
                  "data": "code"}]), "validationCode"),
    (json.dumps(grid_event(eventTime="9999-12-31T23:59:59-05:00")), "not ISO 8601"),
    (json.dumps(grid_event(eventTime="0001-01-01T00:00:00+05:00")), "not ISO 8601"),
    (json.dumps(grid_event(eventTime=12345)), "not ISO 8601"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("null", "expected an event object"),
    ('"x"', "expected an event object"),
])
def test_malformed_deliveries_raise_a_clear_error(body, message) -> None:
    with pytest.raises(EventError, match=message) as caught:
        parse_delivery(body)
    assert caught.value.code == "event.malformed"


def test_the_vault_maps_to_a_region_by_name_topic_or_host(valid_toml, tmp_path) -> None:
    path = tmp_path / "kvdr.toml"
    path.write_text(valid_toml)
    config = load_toml(path)
    [event] = parse_delivery(grid_event()).events
    assert region_for_event(config, event).name == "eastus"
    renamed = VaultEvent.from_dict({**event.to_dict(), "vault_name": "KV-WEST"})
    assert region_for_event(config, renamed).name == "westus"
    by_host = VaultEvent.from_dict({**event.to_dict(), "vault_name": "other", "topic": "",
                                    "object_id": "https://127.0.0.1:8444/secrets/x/1"})
    assert region_for_event(config, by_host).name == "westus"
    unknown = VaultEvent.from_dict({**event.to_dict(), "vault_name": "other", "topic": "",
                                    "object_id": None})
    assert region_for_event(config, unknown) is None


def test_stats_count_by_outcome_and_keep_a_bounded_lag_reservoir() -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    stats = empty_stats()
    for i in range(250):
        stats = record_begin(stats)
        outcome = EventOutcome(event_id=str(i), event_type="t", status=EventStatus.REPLICATED,
                               vault="kv-east", name="n", version="v", event_time=t0,
                               processed_at=t0.replace(second=i % 10), seconds=0.01)
        stats = record_end(stats, outcome)
    stats = record_end(record_begin(stats), EventOutcome(
        event_id="x", event_type="t", status=EventStatus.IGNORED, reason=IgnoreReason.STALE))
    assert (stats["received"], stats["replicated"], stats["pending"]) == (251, 250, 0)
    assert stats["ignored"] == {"stale": 1}
    assert len(stats["recent_lags"]) == 200 and stats["lag_seconds_max"] == 9
    assert stats["lag_seconds_p50"] == percentile(stats["recent_lags"], 50)
    assert stats["last_event"]["status"] == "ignored"
    assert EventOutcome.from_dict(outcome.to_dict()) == outcome
    assert percentile([], 50) is None and percentile([3, 1, 2], 100) == 3


@pytest.mark.parametrize("value", ["1e400", "-1e400"])
def test_out_of_range_nbf_and_exp_are_read_as_absent(value) -> None:
    # 1e400 is JSON for a float the platform cannot hold: infinity, not an integer time
    data = {**grid_event()["data"], "NBF": "NBF", "EXP": "EXP"}
    body = json.dumps([grid_event(data=data)]).replace('"NBF": "NBF"', f'"NBF": {value}')
    [event] = parse_delivery(body.replace('"EXP": "EXP"', f'"EXP": {value}')).events
    assert (event.not_before, event.expires) == (None, None)
