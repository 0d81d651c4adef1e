"""Near-expiry and expiry events, fired as the emulator's clock passes their time and delivered
through its Event Grid webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicyAction

from emulator.testing import Emulator

DAY = 86400


class Hook:
    """A webhook that passes Event Grid's handshake and records the notifications."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))[0]
                answer = b""
                if event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent":
                    answer = json.dumps({"validationResponse": event["data"]["validationCode"]})
                    answer = answer.encode()
                else:
                    hook.events.append(event)
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def of(self, suffix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["eventType"].endswith(suffix)]


@pytest.fixture
def setup(kv_emulator_factory) -> Iterator[tuple[Emulator, Hook]]:
    emu = kv_emulator_factory(["vault"])
    hook = Hook()
    emu.subscribe_events(hook.url)
    yield emu, hook
    hook.server.shutdown()


def _advance(emu: Emulator, seconds: float) -> None:
    emu.advance(seconds)
    assert emu.wait_events_delivered()


def _when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["eventTime"])


def test_secret_near_expiry_30_days_before_and_expired_at_exp(setup) -> None:
    emu, hook = setup
    start = emu.clock.now()
    exp = start.replace(microsecond=0) + timedelta(days=100)
    with emu.secret_client() as client:
        secret = client.set_secret("s", "v", expires_on=exp)
    _advance(emu, 69 * DAY)
    assert hook.of("NearExpiry") == []
    _advance(emu, 2 * DAY)  # day 71: 30 days before day 100 has passed
    (near,) = hook.of("SecretNearExpiry")
    assert near["eventType"] == "Microsoft.KeyVault.SecretNearExpiry"
    assert _when(near) == exp - timedelta(days=30)  # the clock's time, not the wall clock's
    assert near["subject"] == "s"
    assert near["data"]["Version"] == secret.properties.version
    assert near["data"]["EXP"] == int(exp.timestamp())
    assert hook.of("Expired") == []
    _advance(emu, 40 * DAY)
    (expired,) = hook.of("SecretExpired")
    assert _when(expired) == exp
    _advance(emu, 400 * DAY)
    assert len(hook.of("SecretNearExpiry")) == 1 and len(hook.of("SecretExpired")) == 1


def test_only_the_current_version_fires(setup) -> None:
    emu, hook = setup
    exp = emu.clock.now() + timedelta(days=40)
    with emu.secret_client() as client:
        client.set_secret("s", "old", expires_on=exp)
        newer = client.set_secret("s", "new", expires_on=exp + timedelta(days=365))
    _advance(emu, 60 * DAY)
    assert hook.of("SecretNearExpiry") == [] and hook.of("SecretExpired") == []
    _advance(emu, 340 * DAY)
    (near,) = hook.of("SecretNearExpiry")
    assert near["data"]["Version"] == newer.properties.version


def test_reading_an_expired_or_not_yet_valid_secret_still_answers(setup) -> None:
    emu, _ = setup
    now = emu.clock.now()
    with emu.secret_client() as client:
        client.set_secret("expiring", "v1", expires_on=now + timedelta(days=1))
        client.set_secret("future", "v2", not_before=now + timedelta(days=10))
        emu.advance(2 * DAY)
        assert client.get_secret("expiring").value == "v1"
        assert client.get_secret("future").value == "v2"


def test_key_near_expiry_follows_the_rotation_policys_notify(setup) -> None:
    emu, hook = setup
    exp = emu.clock.now().replace(microsecond=0) + timedelta(days=90)
    with emu.key_client() as client:
        plain = client.create_ec_key("plain", expires_on=exp)
        tuned = client.create_ec_key("tuned", expires_on=exp)
        notify = KeyRotationLifetimeAction(KeyRotationPolicyAction.notify,
                                           time_before_expiry="P10D")
        client.update_key_rotation_policy("tuned", client.get_key_rotation_policy("tuned"),
                                          lifetime_actions=[notify])
    _advance(emu, 85 * DAY)
    near = {e["subject"]: e for e in hook.of("KeyNearExpiry")}
    assert _when(near["plain"]) == exp - timedelta(days=30)
    assert near["plain"]["data"]["Version"] == plain.properties.version
    assert _when(near["tuned"]) == exp - timedelta(days=10)
    assert near["tuned"]["data"]["Version"] == tuned.properties.version
    _advance(emu, 10 * DAY)
    assert sorted(e["subject"] for e in hook.of("KeyExpired")) == ["plain", "tuned"]


def test_certificate_events_on_its_own_expiry_and_none_for_its_backing_objects(setup) -> None:
    emu, hook = setup
    policy = CertificatePolicy("Self", subject="CN=expiring", validity_in_months=2)
    with emu.certificate_client() as client:
        cert = client.begin_create_certificate("c", policy).result()
    assert cert.properties.expires_on is not None
    _advance(emu, 400 * DAY)
    versions = {e["data"]["Version"] for e in hook.events}
    for version in versions:  # a renewal may have made later versions: each fires once
        kinds = [e["eventType"] for e in hook.events if e["data"]["Version"] == version]
        assert len(kinds) == len(set(kinds))
    (near,) = [e for e in hook.of("CertificateNearExpiry")
               if e["data"]["Version"] == cert.properties.version]
    assert _when(near) == cert.properties.expires_on.astimezone(UTC) - timedelta(days=30)
    assert near["data"]["ObjectType"] == "Certificate"
    for expired in hook.of("CertificateExpired"):
        assert _when(expired) == datetime.fromtimestamp(expired["data"]["EXP"], UTC)
    assert hook.of("SecretNearExpiry") == [] and hook.of("KeyNearExpiry") == []
