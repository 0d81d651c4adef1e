"""The whole event path locally: emulator -> Event Grid webhook -> the engine's LocalHost hosting
``function_app:app`` -> ``event_grid_sync`` -> the copy readable in the secondary. Duplicate and
out-of-order delivery converge to the latest; no seeded value reaches logs, state or SQLite."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from emulator.eventgrid import build_event
from emulator.server import VaultSpec
from emulator.testing import Emulator
from engine.host import LocalHost
from kvdr.config.schema import Config
from kvdr.events.handler import EventFailed, reset_caches
from kvdr.events.stats import STATS_KEY
from kvdr.services import Runtime, configure, local_runtime
from kvdr.vault.session import VaultSession
from kvdr_cli import emulated
from triggers.events import event_grid_sync, event_queue_sync

VAULTS = {"eastus": "kv-east", "westus": "kv-west"}


def emulator_config(emu: Emulator) -> Config:
    return emulated.emulator_config({r: emu.url(v) for r, v in VAULTS.items()}, emu.ca_cert,
                                    vault_names=VAULTS)


class FastRuntime(Runtime):
    """A runtime whose sessions retry after milliseconds (a vault that is down fails fast)."""

    def open_session(self, region: str) -> VaultSession:
        self.config.region(region)
        return VaultSession(self.config, region, credential=self.credential,
                            pacers=self.pacers, retry_backoff=(0.02, 0.05))


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.emu = Emulator([VaultSpec(v, geography="us") for v in VAULTS.values()]).start()
        self.runtime = local_runtime(emulator_config(self.emu), tmp_path / "kvdr", env={})
        self.previous = configure(self.runtime)
        reset_caches()
        self.engine_dir = tmp_path / "engine"
        self.host = LocalHost(function_app.app, state_dir=self.engine_dir, port=0).start()
        self.webhook = (f"{self.host.base_url}/runtime/webhooks/EventGrid"
                        "?functionName=event_grid_sync")

    def close(self) -> None:
        self.host.stop()
        self.emu.stop()
        self.runtime.close()
        configure(self.previous)
        reset_caches()

    def copy_of(self, name: str) -> str | None:
        store = self.emu.store("kv-west")
        with store.lock:
            item = store.get("secrets", name)
            return item.get().data.get("value") if item else None

    def wait_for_copy(self, name: str, value: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.copy_of(name) != value:
            assert time.monotonic() < deadline, f"{name} never reached {value!r} in kv-west"
            time.sleep(0.02)


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def test_a_write_on_the_primary_is_readable_on_the_secondary(stack) -> None:
    stack.emu.subscribe_events(stack.webhook)  # the handshake is answered by the local host
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with stack.emu.secret_client("kv-east") as east:
        east.set_secret(name, "first")
    stack.wait_for_copy(name, "first")
    with stack.emu.secret_client("kv-west") as west:
        assert west.get_secret(name).value == "first"
    assert stack.emu.wait_events_delivered(20)
    stats = stack.runtime.state.get_json(STATS_KEY)
    assert stats["replicated"] == 1 and stats["failed"] == 0


def test_writes_on_the_secondary_are_not_copied_back(stack) -> None:
    stack.emu.subscribe_events(stack.webhook)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with stack.emu.secret_client("kv-west") as west:
        west.set_secret(name, "drift")
    assert stack.emu.wait_events_delivered(20)
    with stack.emu.secret_client("kv-east") as east:
        assert [p.name for p in east.list_properties_of_secrets() if p.name == name] == []
    ignored = stack.runtime.state.get_json(STATS_KEY)["ignored"]
    assert ignored.pop("non-primary") == 1
    assert set(ignored) <= {"reserved"}  # the topology record kvdr bootstraps in both vaults


def test_duplicate_and_reordered_delivery_converge_to_the_latest(stack) -> None:
    # each delivery is delayed by up to 3 s (seeded): versions of later rounds overtake
    stack.emu.subscribe_events(stack.webhook, vault="kv-east", duplicate_rate=0.5,
                               reorder=True, reorder_window=3.0, seed=11)
    names = [f"e2e-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with stack.emu.secret_client("kv-east") as east:
        for round_ in range(4):
            for name in names:
                east.set_secret(name, f"{name}-v{round_}")
            time.sleep(1.05)  # list APIs order versions by creation second
    assert stack.emu.wait_events_delivered(60)
    for name in names:
        stack.wait_for_copy(name, f"{name}-v3")
    [sub] = stack.emu.event_subscriptions()
    assert sub["duplicates"] > 0 and sub["dead_lettered"] == []
    stats = stack.runtime.state.get_json(STATS_KEY)
    assert stats["received"] == sub["delivered"] and stats["failed"] == 0
    # every delivery beyond one copy per version wrote nothing
    ignored = stats["ignored"]
    ignored.pop("reserved", None)  # the topology record kvdr bootstraps
    assert set(ignored) <= {"duplicate", "stale"} and ignored["stale"] > 0
    west = stack.emu.store("kv-west")
    with west.lock:
        copies = {n: len(west.get("secrets", n).versions) for n in names}
    assert all(n <= 4 for n in copies.values())


def test_the_queue_trigger_takes_plain_and_base64_messages(stack) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with stack.emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "queued").properties.version
    event = json.dumps(build_event("kv-east", stack.emu.url("kv-east"), "secrets", name,
                                   version))
    event_queue_sync(func.QueueMessage(id="m1", body=base64.b64encode(event.encode())))
    assert stack.copy_of(name) == "queued"
    event_queue_sync(func.QueueMessage(id="m2", body=event.encode()))  # duplicate: no write
    event_queue_sync(func.QueueMessage(id="m3", body=b"garbage"))      # malformed: dropped
    stats = stack.runtime.state.get_json(STATS_KEY)
    assert stats["replicated"] == 1
    assert stats["ignored"] == {"duplicate": 1, "malformed": 1}


def test_no_seeded_value_in_logs_state_or_engine_sqlite(stack, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    stack.emu.subscribe_events(stack.webhook, duplicate_rate=1.0)
    seeded = {f"e2e-{uuid.uuid4().hex[:8]}": f"SEEDED-{uuid.uuid4().hex}" for _ in range(3)}
    with stack.emu.secret_client("kv-east") as east:
        for name, value in seeded.items():
            east.set_secret(name, value)
    for name, value in seeded.items():
        stack.wait_for_copy(name, value)
    assert stack.emu.wait_events_delivered(20)
    files: list[Any] = [p for p in Path(stack.engine_dir).rglob("*") if p.is_file()]
    files += [p for p in (Path(stack.runtime.state.root)).rglob("*") if p.is_file()]
    assert any(p.name.startswith("engine.sqlite") for p in files)
    for value in seeded.values():
        assert value not in caplog.text
        for path in files:
            assert value.encode() not in path.read_bytes(), path


def _trigger_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("kvdr")
            and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("event", [
    dict(event_type=""),
    dict(data="a string"),
    dict(data=["a", "list"]),
    dict(event_type="Microsoft.EventGrid.SubscriptionValidationEvent", data="code"),
], ids=["no-event-type", "data-a-string", "data-a-list", "validation-data-a-string"])
def test_the_grid_trigger_drops_a_malformed_event_with_one_log_line(stack, caplog,
                                                                    event) -> None:
    caplog.set_level(logging.INFO)
    fields = dict(id="bad-1", subject="s", topic="/vaults/kv-east", data={"VaultName": "x"},
                  event_type="Microsoft.KeyVault.SecretNewVersionCreated",
                  event_time=None, data_version="1")
    function_app_event = func.EventGridEvent(**{**fields, **event})
    assert event_grid_sync(function_app_event) is None     # returned: not retried
    [line] = _trigger_lines(caplog)
    assert line.exc_info is None and "bad-1" in line.getMessage()
    assert stack.runtime.state.get_json(STATS_KEY)["ignored"] == {"malformed": 1}


@pytest.mark.parametrize("body", [
    b"[1]", b'"x"', b"null", base64.b64encode(b"[1]"), b"[" * 100_000 + b"]" * 100_000,
    json.dumps([{"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                 "data": "code"}]).encode(),
], ids=["[1]", '"x"', "null", "base64-of-[1]", "nested-too-deeply", "validation-data-string"])
def test_the_queue_trigger_drops_a_malformed_message_with_one_log_line(stack, caplog,
                                                                       body) -> None:
    caplog.set_level(logging.INFO)
    assert event_queue_sync(func.QueueMessage(id="m-bad", body=body)) is None
    [line] = _trigger_lines(caplog)
    assert line.exc_info is None and "m-bad" in line.getMessage()


def test_a_vault_outage_still_raises_from_the_queue_trigger(stack) -> None:
    # a genuine failure must raise: the queue retries it, then moves it to the poison queue
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with stack.emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "later").properties.version
    event = json.dumps(build_event("kv-east", stack.emu.url("kv-east"), "secrets", name,
                                   version)).encode()
    base = stack.runtime
    fast = FastRuntime(config=base.config, credential=base.credential, state=base.state,
                       fingerprint_key=base.fingerprint_key)
    configure(fast)  # an unreachable vault fails after milliseconds, not 31 s of backoff
    stack.emu.down("kv-west", "refuse")
    try:
        with pytest.raises(EventFailed):
            event_queue_sync(func.QueueMessage(id="m-down", body=event))
    finally:
        stack.emu.up("kv-west")
        configure(base)
        fast.close()
    event_queue_sync(func.QueueMessage(id="m-down", body=event))   # the retry copies it
    assert stack.copy_of(name) == "later"


@pytest.mark.parametrize("body", [
    "[1]", '"x"', "null",
    json.dumps([{"id": "e", "subject": "s", "eventTime": "2030-01-01T00:00:00Z", "data": {}}]),
    json.dumps([{"id": "e", "subject": "s", "eventType": "Microsoft.KeyVault.SecretExpired",
                 "eventTime": "not a time", "data": {}}]),
    json.dumps([{"id": "e", "subject": "s", "eventType": "Microsoft.KeyVault.SecretExpired",
                 "eventTime": "2030-01-01T00:00:00Z", "data": "a string"}]),
], ids=["[1]", '"x"', "null", "no-eventType", "eventTime-not-a-time", "data-a-string"])
def test_the_hosted_app_answers_a_malformed_delivery_400_and_counts_nothing(stack, body
                                                                            ) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(stack.webhook, data=body.encode(), method="POST",
                                     headers={"aeg-event-type": "Notification",
                                              "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 400
    assert json.loads(answer.value.read())["error"]["code"] == "eventgrid.malformed"
    assert stack.runtime.state.get_json(STATS_KEY) is None    # the function never ran
