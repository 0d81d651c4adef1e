"""The emulator's Event Grid: validation handshake, Key Vault system-topic events, at-least-once
delivery with retries, duplicates, reordering, filters, the admin API and the CLI flag."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy

from emulator.__main__ import parse_args
from emulator.eventgrid import vault_resource_id
from emulator.testing import Emulator

Responder = Callable[[dict[str, Any], dict[str, str]], tuple[int, Any]]


class Webhook:
    """A plain HTTP endpoint that records every POST and answers like an Event Grid handler
    (the handshake, then 200) unless ``respond`` says otherwise."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], list[dict[str, Any]]]] = []
        self.respond: Responder | None = None
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with hook.lock:
                    hook.received.append((headers, body))
                status, answer = hook.answer(body[0], headers)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?functionName=f"

    def answer(self, event: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if self.respond is not None:
            return self.respond(event, headers)
        if event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent":
            return 200, {"validationResponse": event["data"]["validationCode"]}
        return 200, None

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for h, body in self.received for e in body
                    if h.get("aeg-event-type") == "Notification"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def emu(kv_emulator_factory) -> Emulator:
    return kv_emulator_factory(["kv-a", "kv-b"])


def test_handshake_first_then_a_key_vault_event_per_new_secret_version(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    headers, body = webhook.received[0]
    assert headers["aeg-event-type"] == "SubscriptionValidation"
    assert body[0]["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"

    with emu.secret_client("kv-a") as client:
        version = client.set_secret("db-password", "s3cret").properties.version
        client.update_secret_properties("db-password", enabled=False)  # no event for attributes
    assert emu.wait_events_delivered(10)
    [event] = webhook.events()
    assert event["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated"
    assert event["topic"] == vault_resource_id("kv-a")
    assert event["subject"] == "db-password"
    assert event["dataVersion"] == "1" and event["id"] and event["eventTime"].endswith("Z")
    assert event["data"] == {
        "Id": f"{emu.url('kv-a')}secrets/db-password/{version}", "VaultName": "kv-a",
        "ObjectType": "Secret", "ObjectName": "db-password", "Version": version,
        "NBF": None, "EXP": None}
    assert "s3cret" not in json.dumps(webhook.received)


def test_expiry_attributes_travel_as_nbf_and_exp(emu, webhook) -> None:
    from datetime import UTC, datetime
    emu.subscribe_events(webhook.url)
    exp = datetime(2031, 1, 1, tzinfo=UTC)
    with emu.secret_client("kv-a") as client:
        client.set_secret("expiring", "v", expires_on=exp)
    assert emu.wait_events_delivered(10)
    [event] = webhook.events()
    assert event["data"]["EXP"] == int(exp.timestamp())


def test_a_certificate_announces_its_certificate_key_and_secret(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    with emu.certificate_client("kv-a") as certs:
        certs.begin_create_certificate("web", CertificatePolicy.get_default()).result()
    assert emu.wait_events_delivered(10)
    assert sorted(e["eventType"] for e in webhook.events()) == [
        "Microsoft.KeyVault.CertificateNewVersionCreated",
        "Microsoft.KeyVault.KeyNewVersionCreated",
        "Microsoft.KeyVault.SecretNewVersionCreated"]
    assert len({e["data"]["Version"] for e in webhook.events()}) == 1


def test_a_vault_filter_delivers_only_that_vaults_events(emu, webhook) -> None:
    emu.subscribe_events(webhook.url, vault="kv-b")
    with emu.secret_client("kv-a") as a, emu.secret_client("kv-b") as b:
        a.set_secret("only-a", "x")
        b.set_secret("only-b", "y")
    assert emu.wait_events_delivered(10)
    assert [e["data"]["VaultName"] for e in webhook.events()] == ["kv-b"]


def test_failed_deliveries_are_retried_until_accepted(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    failures = {"left": 2}

    def flaky(event: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if failures["left"]:
            failures["left"] -= 1
            return 503, None
        return 200, None

    webhook.respond = flaky
    with emu.secret_client("kv-a") as client:
        client.set_secret("retried", "x")
    assert emu.wait_events_delivered(10)
    notifications = [h for h, _ in webhook.received if h["aeg-event-type"] == "Notification"]
    assert [h["aeg-delivery-count"] for h in notifications] == ["0", "1", "2"]
    [sub] = emu.event_subscriptions()
    assert (sub["delivered"], sub["attempts"], sub["retries"]) == (1, 3, 2)


def test_a_400_answer_dead_letters_without_retry(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    webhook.respond = lambda event, headers: (400, None)
    with emu.secret_client("kv-a") as client:
        client.set_secret("rejected", "x")
    assert emu.wait_events_delivered(10)
    [sub] = emu.event_subscriptions()
    assert sub["attempts"] == 1 and len(sub["dead_lettered"]) == 1 and sub["delivered"] == 0


def test_unreachable_webhook_is_retried_then_dead_lettered(emu, webhook) -> None:
    sub_id = emu.subscribe_events(webhook.url, max_attempts=3)
    webhook.close()
    with emu.secret_client("kv-a") as client:
        client.set_secret("lost", "x")
    assert emu.wait_events_delivered(10)
    [sub] = emu.event_subscriptions()
    assert sub["id"] == sub_id and sub["attempts"] == 3 and len(sub["dead_lettered"]) == 1


def test_duplicates_repeat_the_same_event_id(emu, webhook) -> None:
    emu.subscribe_events(webhook.url, duplicate_rate=1.0)
    with emu.secret_client("kv-a") as client:
        client.set_secret("twice", "x")
    assert emu.wait_events_delivered(10)
    events = webhook.events()
    assert len(events) == 2 and events[0] == events[1]


def test_reordering_is_seeded_and_loses_nothing(emu, webhook) -> None:
    emu.subscribe_events(webhook.url, reorder=True, seed=3)
    with emu.secret_client("kv-a") as client:
        versions = [client.set_secret("shuffled", str(i)).properties.version for i in range(12)]
    assert emu.wait_events_delivered(10)
    delivered = [e["data"]["Version"] for e in webhook.events()]
    assert sorted(delivered) == sorted(versions)
    assert delivered != versions


def test_a_failed_handshake_refuses_the_subscription(emu, webhook) -> None:
    webhook.respond = lambda event, headers: (200, {"validationResponse": "wrong"})
    with pytest.raises(TimeoutError, match="validation"):
        emu.subscribe_events(webhook.url, timeout=0.5)


def test_emit_event_injects_near_expiry(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    emu.emit_event("kv-a", "SecretNearExpiry", "old-secret", "0123abcd")
    emu.emit_event("kv-b", "Microsoft.KeyVault.CertificateExpired", "old-cert", "4567")
    assert emu.wait_events_delivered(10)
    assert sorted((e["eventType"], e["data"]["ObjectName"]) for e in webhook.events()) == [
        ("Microsoft.KeyVault.CertificateExpired", "old-cert"),
        ("Microsoft.KeyVault.SecretNearExpiry", "old-secret")]
    with pytest.raises(ValueError):
        emu.emit_event("kv-a", "VaultAccessPolicyChanged", "x", "1")


def test_the_constructor_subscribes_a_webhook(kv_emulator_factory, webhook) -> None:
    emu = kv_emulator_factory(["kv-c"], event_webhook=webhook.url)
    with emu.secret_client("kv-c") as client:
        client.set_secret("constructed", "x")
    assert emu.wait_events_delivered(10)
    assert [e["subject"] for e in webhook.events()] == ["constructed"]


def _admin(url: str, ca: str, method: str, body: Any = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=ca)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_admin_api_subscribes_per_vault_and_for_all(kv_emulator_factory, webhook) -> None:
    emu = kv_emulator_factory(["kv-a", "kv-b"], admin_port=0)
    status, sub = _admin(f"{emu.url('kv-a')}_emulator/eventgrid", emu.ca_cert, "POST",
                         {"url": webhook.url, "duplicate_rate": 0.0, "reorder": False})
    assert status == 201 and sub["vault"] == "kv-a"
    status, sub_all = _admin(f"{emu.admin_url}eventgrid", emu.ca_cert, "POST",
                             {"url": webhook.url})
    assert status == 201 and sub_all["vault"] is None
    status, error = _admin(f"{emu.admin_url}eventgrid", emu.ca_cert, "POST", {"nope": 1})
    assert status == 400 and error["error"]["code"] == "BadParameter"
    deadline = time.monotonic() + 10
    while any(s["state"] != "active" for s in emu.event_subscriptions()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with emu.secret_client("kv-a") as a, emu.secret_client("kv-b") as b:
        a.set_secret("admin-a", "x")
        b.set_secret("admin-b", "y")
    assert emu.wait_events_delivered(10)
    assert sorted(e["subject"] for e in webhook.events()) == ["admin-a", "admin-a", "admin-b"]
    status, listed = _admin(f"{emu.admin_url}eventgrid", emu.ca_cert, "GET")
    assert status == 200 and sorted(s["delivered"] for s in listed) == [1, 2]


def test_the_cli_takes_event_webhooks() -> None:
    args = parse_args(["serve", "--vault", "kv-a=0", "--event-webhook", "http://127.0.0.1:1/x",
                       "--event-duplicate-rate", "0.1", "--event-reorder"])
    assert args.event_webhook == ["http://127.0.0.1:1/x"]
    assert args.event_duplicate_rate == 0.1 and args.event_reorder
