"""The event path's rotation signal, end to end on the emulator: its clock is advanced past
30 days before expiry, its Event Grid delivers the real SecretNearExpiry/SecretExpired events of
both vaults, and the handler publishes to a real Azurite queue — one message for the primary's
event, none for the secondary's, none on redelivery, none for the same expiry after a failover,
and one for the next expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kvdr.events.handler import EventFailed, handle_payload, reset_caches
from kvdr.events.model import EventStatus, IgnoreReason
from kvdr.events.stats import STATS_KEY
from kvdr.rotation import publisher as publisher_module
from kvdr.rotation.markers import marker_name, read_marker
from kvdr.rotation.message import DueReason, Source, message_id
from kvdr.vault.inventory import ItemKind
from support.event_webhook import EventWebhook
from support.sync import SyncEnv

from .conftest import DAY, RotationEnv


@pytest.fixture
def hook(rotation_env: RotationEnv):
    webhook = EventWebhook()
    rotation_env.sync.emu.subscribe_events(webhook.url)
    yield webhook
    webhook.close()


def _advance(env: SyncEnv, days: float) -> None:
    env.emu.advance(days * DAY)
    assert env.emu.wait_events_delivered()


def _event(hook: EventWebhook, event_type: str, vault: str, name: str,
           exp: int | None = None) -> dict[str, Any]:
    found = [e for e in hook.events(event_type) if e["data"]["VaultName"] == vault
             and e["data"]["ObjectName"] == name and (exp is None or e["data"]["EXP"] == exp)]
    assert len(found) == 1, (event_type, vault, name, hook.events(event_type))
    return found[0]


def _reason(env: SyncEnv, event: dict[str, Any]) -> IgnoreReason | None:
    [outcome] = handle_payload(env.runtime, [event])
    assert outcome.status == EventStatus.IGNORED  # nothing is replicated by an expiry event
    return outcome.reason


def _secret_synced(env: SyncEnv, name: str, days: int) -> tuple[str, Any]:
    """A secret in east expiring in ``days`` (emulator time), copied to west by a full sync."""
    exp = env.emu.clock.now().replace(microsecond=0) + timedelta(days=days)
    with env.emu.secret_client("east") as client:
        version = client.set_secret(name, "s3cret-value-never-sent", expires_on=exp)
    record = env.sync()
    assert record["status"] == "succeeded"
    assert record["rotation"]["due"] == 0  # 40 days out: not due yet
    with env.emu.secret_client("west") as client:
        assert client.get_secret(name).properties.expires_on == exp
    return version.properties.version, exp


def test_one_message_for_the_primarys_near_expiry_none_for_the_secondarys_or_redelivery(
        rotation_env: RotationEnv, hook: EventWebhook) -> None:
    env = rotation_env.sync
    version, exp = _secret_synced(env, "db-password", 40)
    _advance(env, 11)  # past exp - 30 days: both vaults fire SecretNearExpiry
    east = _event(hook, "SecretNearExpiry", "east", "db-password")
    west = _event(hook, "SecretNearExpiry", "west", "db-password")

    assert _reason(env, east) == IgnoreReason.ROTATION_DUE
    assert _reason(env, west) == IgnoreReason.NON_PRIMARY
    [message] = rotation_env.messages()
    assert (message.kind, message.name, message.version, message.expires) == (
        ItemKind.SECRET, "db-password", version, exp)
    assert (message.region, message.epoch, message.reason, message.source) == (
        "east", 1, DueReason.NEAR_EXPIRY, Source.EVENT)
    assert message.vault_url == env.emu.url("east")
    assert message.id == message_id("secret", "DB-Password", exp)  # names are case-insensitive
    assert "s3cret-value-never-sent" not in rotation_env.raw_messages()[0]

    # redelivered: to this process (it remembers the event id), then to a fresh one (the marker)
    assert _reason(env, east) == IgnoreReason.DUPLICATE
    reset_caches()
    assert _reason(env, east) == IgnoreReason.ANNOUNCED
    # the Expired event of the same expiry announces nothing new either
    _advance(env, 30)
    assert _reason(env, _event(hook, "SecretExpired", "east", "db-password")) == \
        IgnoreReason.ANNOUNCED
    assert len(rotation_env.messages()) == 1

    # the marker is in both vaults, and the counters say what happened
    sessions = env.runtime.sessions()
    for region in ("east", "west"):
        marker = read_marker(sessions[region], ItemKind.SECRET, "db-password")
        assert marker is not None and marker.announces(exp) and marker.epoch == 1
    stats = env.runtime.state.get_json(STATS_KEY)
    assert stats["ignored"]["rotation-due"] == 1 and stats["ignored"]["announced"] == 2
    assert stats["ignored"]["non-primary"] >= 1


def test_after_a_failover_the_same_expiry_is_not_announced_again_and_the_next_one_is(
        rotation_env: RotationEnv, hook: EventWebhook) -> None:
    env = rotation_env.sync
    _, exp = _secret_synced(env, "api-key", 40)
    _advance(env, 11)
    assert _reason(env, _event(hook, "SecretNearExpiry", "east", "api-key")) == \
        IgnoreReason.ROTATION_DUE
    [first] = rotation_env.messages()

    record = rotation_env.fail_over("west")
    # the new primary's event for the expiry the old primary announced: nothing new
    assert _reason(env, _event(hook, "SecretNearExpiry", "west", "api-key")) == \
        IgnoreReason.ANNOUNCED
    # ... and the old primary's events are now a secondary's
    assert _reason(env, _event(hook, "SecretNearExpiry", "east", "api-key")) == \
        IgnoreReason.NON_PRIMARY
    assert rotation_env.messages() == [first]

    # the rotation job writes the next version in the new primary; its expiry comes due
    exp2 = env.emu.clock.now().replace(microsecond=0) + timedelta(days=35)
    with env.emu.secret_client("west") as client:
        version2 = client.set_secret("api-key", "rotated-value", expires_on=exp2)
    _advance(env, 6)
    near2 = _event(hook, "SecretNearExpiry", "west", "api-key", exp=int(exp2.timestamp()))
    assert _reason(env, near2) == IgnoreReason.ROTATION_DUE
    first_again, second = rotation_env.messages()
    assert first_again == first and second.id != first.id
    assert (second.region, second.epoch, second.version, second.expires) == (
        "west", record.epoch, version2.properties.version, exp2)
    assert first.expires == exp


def test_an_event_for_an_expiry_the_item_no_longer_has_announces_nothing(
        rotation_env: RotationEnv, hook: EventWebhook) -> None:
    env = rotation_env.sync
    _secret_synced(env, "rotated-early", 40)
    _advance(env, 11)
    near = _event(hook, "SecretNearExpiry", "east", "rotated-early")
    with env.emu.secret_client("east") as client:  # rotated before the event was handled
        client.set_secret("rotated-early", "new", expires_on=env.emu.clock.now() +
                          timedelta(days=365))
    assert _reason(env, near) == IgnoreReason.NEAR_EXPIRY
    assert rotation_env.messages() == []
    assert read_marker(env.runtime.session("east"), ItemKind.SECRET, "rotated-early") is None


def test_a_queue_that_refuses_fails_the_event_and_writes_no_marker(
        rotation_env: RotationEnv, hook: EventWebhook, monkeypatch) -> None:
    env = rotation_env.sync
    _secret_synced(env, "retried", 40)
    _advance(env, 11)
    near = _event(hook, "SecretNearExpiry", "east", "retried")
    # the queue's account goes away: nothing listens on its port any more
    monkeypatch.setenv("KvdrRotationTest", "DefaultEndpointsProtocol=http;AccountName="
                       "devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:9/"
                       "devstoreaccount1;")
    monkeypatch.setattr(publisher_module, "CLIENT_OPTIONS", {"retry_total": 0})
    with pytest.raises(EventFailed) as failed:
        handle_payload(env.runtime, [near])
    assert failed.value.code == "rotation.publish_failed"
    assert "a2V5" not in str(failed.value)  # the account key is never echoed
    sessions = env.runtime.sessions()
    assert read_marker(sessions["east"], ItemKind.SECRET, "retried") is None
    with env.emu.secret_client("east") as client:
        assert [p.name for p in client.list_properties_of_secrets()
                if p.name == marker_name(ItemKind.SECRET, "retried")] == []
