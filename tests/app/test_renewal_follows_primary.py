"""Issue 11's story end to end, on the emulator and the real function app on the local host:
Event Grid deliveries from the emulator into the app's webhook, runbooks started over HTTP, the
emulator's clock advanced by months, and a real Azurite queue for the rotation signal.

A self-signed certificate renews itself at 80 % of its 12-month validity. Only the primary
renews it; the copy follows. After a failover the new primary renews and the old one does
not; after the failback the renewal is back in the first region, which renews again. A secret
near its expiry yields exactly one "rotation due" message per expiry, from the primary, before
and after the failover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.utils import http_utils
from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction
from azure.storage.queue import QueueClient

import function_app
from engine.host import LocalHost
from kvdr.events.handler import reset_caches
from kvdr.renewal.ownership import read_policy
from kvdr.rotation.message import RotationMessage
from kvdr.rotation.publisher import forget_publishers
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LinkState
from kvdr.vault.session import props_from_certificate
from support.azurite import AzuriteQueue
from support.runbooks import call
from support.sync import US_PAIR, SyncEnv, start_env

DAY = 86400
CERT, SECRET = "web-tls", "db-password"
CONNECTION = "KvdrRotationE2E"


@pytest.fixture
def world(tmp_path: Path, azurite_queue: AzuriteQueue, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[SyncEnv, LocalHost, QueueClient]]:
    queue = azurite_queue.queue_name()
    monkeypatch.setenv(CONNECTION, azurite_queue.connection_string)
    forget_publishers()
    reset_caches()
    gen = start_env(tmp_path, US_PAIR,
                    sections={"rotation": {"queue": queue, "connection": CONNECTION}})
    env = next(gen)
    env.engine.stop()  # the host runs its own engine
    http_utils._client_session = None  # the Durable client's session belongs to one loop
    client = azurite_queue.client(queue)
    client.create_queue()
    try:
        with LocalHost(function_app.app, state_dir=tmp_path / "host", port=0) as host:
            env.emu.subscribe_events(f"{host.base_url}/runtime/webhooks/EventGrid"
                                     "?functionName=event_grid_sync")
            yield env, host, client
    finally:
        client.close()
        gen.close()
        forget_publishers()
        reset_caches()


def run(host: LocalHost, path: str, body: Any = None, timeout: float = 180) -> dict[str, Any]:
    """Start a runbook over HTTP and wait for its output."""
    status, started = call(host, "POST", path, body)
    assert status == 202, (status, started)
    instance = started.get("id") or started.get("instance_id")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, state = call(host, "GET", f"/runtime/webhooks/durabletask/instances/{instance}")
        if state and state.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
            assert state["runtimeStatus"] == "Completed", state
            return state["output"]
        time.sleep(0.2)
    raise AssertionError(f"{path} did not finish in {timeout} s")


def settle(env: SyncEnv) -> None:
    assert env.emu.wait_events_delivered(60)


def advance(env: SyncEnv, days: float) -> None:
    env.emu.advance(days * DAY)
    settle(env)


def versions(env: SyncEnv, vault: str) -> list[Any]:
    """The certificate's versions in ``vault``, oldest first."""
    with env.emu.certificate_client(vault) as client:
        found = list(client.list_properties_of_certificate_versions(CERT))
    return sorted(found, key=lambda p: p.created_on)


def minted_by(env: SyncEnv, vault: str) -> list[str]:
    """For each version in ``vault``: the region whose renewal minted it. A copy's confirmed
    link names its origin; any other version was minted here (a renewal carries the previous
    version's tags, so its link is stale, not confirmed)."""
    origins = []
    for props in versions(env, vault):
        read = props_from_certificate(props)
        copied = read.link is not None and read.link_state == LinkState.CONFIRMED
        origins.append(read.link.origin_region if copied else vault)
    return origins


def thumbprints(env: SyncEnv, vault: str) -> list[bytes]:
    return [p.x509_thumbprint for p in versions(env, vault)]


def armed(env: SyncEnv, vault: str) -> bool:
    return read_policy(env.runtime.session(vault), ItemKind.CERTIFICATE, CERT).renewal.armed


def messages(queue: QueueClient) -> list[RotationMessage]:
    return [RotationMessage.from_json(m.content) for m in queue.peek_messages(max_messages=32)]


def test_renewal_and_the_rotation_signal_follow_the_primary(world) -> None:
    env, host, queue = world
    now = env.emu.clock.now().replace(microsecond=0)
    with env.emu.certificate_client("east") as certs:
        certs.begin_create_certificate(CERT, CertificatePolicy(
            "Self", subject="CN=web.contoso.test", validity_in_months=12,
            lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                             lifetime_percentage=80)])).result()
    with env.emu.secret_client("east") as secrets_:
        secrets_.set_secret(SECRET, "first-value-never-in-a-message",
                            expires_on=now + timedelta(days=320))
    settle(env)
    record = run(host, "/api/runbooks/full-sync")
    assert record["status"] == "succeeded", record
    assert armed(env, "east") and not armed(env, "west")

    # ~10 months: east's renewal (day ~292) and the secret's near-expiry (day 290)
    advance(env, 300)
    assert minted_by(env, "east") == ["east", "east"]          # one new version, by east
    assert minted_by(env, "west") == ["east", "east"]          # copies only: west minted none
    assert thumbprints(env, "west") == thumbprints(env, "east")
    [first] = messages(queue)
    assert (first.kind, first.name, first.region) == (ItemKind.SECRET, SECRET, "east")

    # planned failover to west: renewal is handed over
    report = run(host, "/api/runbooks/failover", {"target": "west", "reason": "e2e",
                                                  "requested_by": "pytest"})
    assert report["outcome"] == "completed", report
    assert report["renewal"]["ok"] is True
    assert armed(env, "west") and not armed(env, "east")

    # the rotation job writes the new value where the primary now is
    status, topology = call(host, "GET", "/api/topology")
    assert status == 200 and topology["primary"] == "west"
    with env.emu.secret_client("west") as secrets_:
        secrets_.set_secret(SECRET, "second-value-never-in-a-message",
                            expires_on=now + timedelta(days=360))
    settle(env)

    # ~10 more months: west renews (day ~584), east does not; the new secret version's
    # near-expiry (day 330) is announced once, by west; its old expiry is not announced again
    advance(env, 300)
    assert minted_by(env, "west") == ["east", "east", "west"]
    assert minted_by(env, "east") == ["east", "east", "west"]  # west's renewal, copied
    found = messages(queue)
    assert len(found) == 2, found
    second = found[1]
    assert (second.kind, second.name, second.region) == (ItemKind.SECRET, SECRET, "west")
    assert second.expires == now + timedelta(days=360) and second.id != first.id

    # failback: east renews again, west does not; west's renewal stays east's current version
    back = run(host, "/api/runbooks/failback", {"target": "east", "reason": "e2e",
                                                "requested_by": "pytest"})
    assert back["outcome"] == "completed", back
    assert "renewal" in back["steps"].get("drain", {})  # the sync's renewal step, kept
    assert armed(env, "east") and not armed(env, "west")
    assert thumbprints(env, "east")[-1] == thumbprints(env, "west")[-1]
    advance(env, 300)
    assert minted_by(env, "east") == ["east", "east", "west", "east"]
    assert minted_by(env, "west") == ["east", "east", "west", "east"]

    # the drill agrees: exactly one vault renews, the primary
    drill = run(host, "/api/runbooks/drill")
    ownership = [c for c in drill["checks"] if c["name"] == "renewal_ownership"]
    assert ownership and ownership[0]["status"] == "passed", drill["checks"]
    for message in messages(queue):
        assert "value" not in message.to_json()


def test_the_drill_fails_naming_a_copy_whose_renewal_was_armed_by_hand(world) -> None:
    env, host, _queue = world
    with env.emu.certificate_client("east") as certs:
        certs.begin_create_certificate(CERT, CertificatePolicy(
            "Self", subject="CN=web.contoso.test", validity_in_months=12,
            lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                             lifetime_percentage=80)])).result()
    settle(env)
    assert run(host, "/api/runbooks/full-sync")["status"] == "succeeded"
    with env.emu.certificate_client("west") as certs:
        certs.update_certificate_policy(CERT, CertificatePolicy(lifetime_actions=[
            LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=80)]))
    drill = run(host, "/api/runbooks/drill")
    [ownership] = [c for c in drill["checks"] if c["name"] == "renewal_ownership"]
    assert ownership["status"] == "failed"
    assert CERT in str(ownership) and "west" in str(ownership)


