"""The queue publisher against a real Azurite queue service (messages read back through the
SDK), and how the connection is found: identity-based settings, a connection string, Azurite's
shorthand; what is refused; publishing off said once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from kvdr.config.loading import load_dict
from kvdr.errors import ConfigError
from kvdr.rotation import publisher as publisher_module
from kvdr.rotation.message import RotationMessage
from kvdr.rotation.publisher import (
    PublishError,
    describe_rotation,
    forget_publishers,
    queue_publisher,
    rotation_publisher,
)
from kvdr.state.blob import DEV_ACCOUNT_KEY
from kvdr_cli import emulated
from support.azurite import AzuriteQueue

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_publishers():
    forget_publishers()
    yield
    forget_publishers()


def _message(name: str = "db-password", days: int = 10) -> RotationMessage:
    return RotationMessage("secret", name, "v1", NOW + timedelta(days=days), "east",
                           "https://127.0.0.1:8443/", 1, "near-expiry", NOW, "scan")


def _config(**rotation):
    document = emulated.emulator_document({"east": "https://127.0.0.1:8443/",
                                           "west": "https://127.0.0.1:8444/"}, "ca.pem")
    document.pop("tls")
    if rotation:
        document["rotation"] = rotation
    return load_dict(document)


def test_messages_reach_the_queue_as_plain_json_that_never_expires(
        azurite_queue: AzuriteQueue) -> None:
    queue = azurite_queue.queue_name()
    publisher = queue_publisher({"Conn": azurite_queue.connection_string}, queue, "Conn")
    try:
        publisher.publish(_message("first"))   # the queue did not exist: created
        publisher.publish(_message("second"))
    finally:
        publisher.close()
    with azurite_queue.client(queue) as client:
        received = list(client.receive_messages(max_messages=10))
    assert [RotationMessage.from_json(m.content) for m in received] == [
        _message("first"), _message("second")]
    assert all(m.expires_on.year == 9999 for m in received)  # time_to_live -1
    described = publisher.describe()
    assert described == {"enabled": True, "queue": queue, "auth": "connection string",
                         "connection": "Conn", "url": f"{azurite_queue.endpoint}/{queue}"}
    assert DEV_ACCOUNT_KEY not in repr(described)


def test_the_process_publisher_is_built_once_and_rebuilt_when_the_connection_changes(
        azurite_queue: AzuriteQueue) -> None:
    config = _config(queue=azurite_queue.queue_name(), connection="RotationConn")
    env = {"RotationConn": azurite_queue.connection_string}
    first = rotation_publisher(config, env)
    assert first is not None and rotation_publisher(config, env) is first
    moved = rotation_publisher(config, {"RotationConn": "UseDevelopmentStorage=true"})
    assert moved is not first
    assert moved.describe()["url"].startswith("http://127.0.0.1:10001/devstoreaccount1/")


def test_publishing_is_off_without_a_queue_and_says_so_once(caplog) -> None:
    caplog.set_level(logging.INFO, logger="kvdr.rotation.publisher")
    config = _config()
    assert config.rotation.queue is None
    assert rotation_publisher(config, {}) is None and rotation_publisher(config, {}) is None
    assert caplog.text.count("rotation publishing is off") == 1
    assert describe_rotation(config, {}) == {
        "enabled": False, "reason": "rotation.queue (KVDR_ROTATION_QUEUE) is not set"}


def test_identity_based_connections_name_the_endpoint_and_the_identity() -> None:
    explicit = queue_publisher({"Q__queueServiceUri": "https://acct.queue.core.usgovcloudapi.net/"},
                               "kvdr-rotation", "Q")
    assert explicit.describe()["url"] == "https://acct.queue.core.usgovcloudapi.net/kvdr-rotation"
    assert explicit.describe()["auth"] == "identity"
    assert isinstance(explicit._owned_credential, DefaultAzureCredential)
    by_name = queue_publisher({"Q__accountName": "stkvdreast", "Q__clientId": "1234"},
                              "kvdr-rotation", "Q")
    assert by_name.url == "https://stkvdreast.queue.core.windows.net/kvdr-rotation"
    assert isinstance(by_name._owned_credential, ManagedIdentityCredential)
    for publisher in (explicit, by_name):
        publisher.close()


@pytest.mark.parametrize(("env", "code", "words"), [
    ({}, "config.missing", "Q__queueServiceUri"),
    ({"Q__queueServiceUri": "https://acct.queue.core.windows.net/?sv=2024&sig=x"},
     "config.invalid", "SAS"),
    ({"Q__queueServiceUri": "http://acct.queue.core.windows.net/"}, "config.invalid", "https"),
    ({"Q__accountName": "Not_An_Account"}, "config.invalid", "storage account name"),
    ({"Q": "AccountKey=c2VjcmV0LWtleQ==;garbage"}, "config.invalid", "connection string"),
])
def test_an_unusable_connection_is_a_config_error_naming_the_setting(env, code, words) -> None:
    with pytest.raises(ConfigError) as raised:
        queue_publisher(env, "kvdr-rotation", "Q")
    assert raised.value.code == code and words in raised.value.message
    assert "c2VjcmV0LWtleQ" not in str(raised.value)  # a key is never echoed
    config = _config(queue="kvdr-rotation", connection="Q")
    described = describe_rotation(config, env)
    assert described["enabled"] is False and described["error"]["code"] == code


def test_a_queue_that_cannot_be_reached_is_a_publish_error(monkeypatch) -> None:
    dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    monkeypatch.setattr(publisher_module, "CLIENT_OPTIONS", {"retry_total": 0})
    publisher = rotation_publisher(_config(queue="kvdr-rotation", connection="Dead"),
                                   {"Dead": dead})
    with pytest.raises(PublishError) as raised:
        publisher.publish(_message())
    assert raised.value.code == "rotation.publish_failed"
    assert "a2V5" not in str(raised.value) and "db-password" in raised.value.message
