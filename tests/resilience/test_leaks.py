"""Suite 6 of issue 13, leaks: every runbook run once on the local host, as Azure runs it — the
real function app on the engine, the state store in a blob container (Azurite, as the
``kvdr-state`` container of the app's storage) — over vaults whose secrets hold unique values;
then everything the runs left is scanned for those values and for the seeded keys' and
certificates' private keys: the engine's SQLite histories and the state dir, every blob of the
storage account, every orchestration's input, output, custom status and history (through the
management API), every HTTP answer, every log record at DEBUG, the custom events, and the
exception texts of the activities that failed — one secret-bearing path fails on purpose (the
target goes down in the middle of a copy). Zero hits; the scanner's own proof is
tests/resilience/test_leak_scanner.py. The same runbooks through the command line (a process
each, as an operator runs them): every output, text and JSON, and the local state dir.

Sizes: ``fast`` (in ``make test``) seeds 20 secrets, ``large`` (``KVDR_RESILIENCE_SIZE=large``)
300. The figures are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.utils import http_utils
from azure.keyvault.certificates import CertificatePolicy, WellKnownIssuerNames
from resilience.leaks_support import (
    private_keys,
    scan_engine,
    scan_management_api,
    scanning_logs,
)

import function_app
from engine.host import LocalHost
from kvdr.events.handler import reset_caches
from kvdr.services import Runtime, configure
from kvdr.state.blob import BlobStateStore
from kvdr.topology.store import current_topology
from kvdr.vault.session import VaultSession
from support.azurite import AzuriteBlob
from support.cli import run_kvdr, two_regions, write_toml
from support.leaks import LeakScanner, unique_secret_value
from support.sync import US_PAIR, SyncEnv, start_env

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
SECRETS = {"fast": 20, "large": 300}[SIZE]
BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6)  # kvdr's backoff scaled to a tenth: the outage ends sooner


@dataclass
class World:
    env: SyncEnv
    host: LocalHost
    state: BlobStateStore
    storage: str  # the storage account's connection string
    scanner: LeakScanner
    answers: int = 0

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON call to the host; its answer is scanned before it is parsed."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.host.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        self.answers += 1
        self.scanner.scan_text(f"answer to {method} {path}", text, kind="HTTP response")
        return status, json.loads(text) if text else None

    def run(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start a runbook, follow it through GET /api/runbooks/{id} (custom statuses
        included, every answer scanned) to its end; returns the last answer."""
        status, started = self.call("POST", f"/api/runbooks/{route}", body)
        assert status == 202, started
        return self.follow(started["id"], _finished)

    def follow(self, instance_id: str, done: Callable[[dict[str, Any]], bool],
               timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, answer = self.call("GET", f"/api/runbooks/{instance_id}")
            assert status == 200, answer
            if done(answer) or time.monotonic() > deadline:
                return answer
            time.sleep(0.1)


def _finished(answer: dict[str, Any]) -> bool:
    return answer["runtime_status"] in ("Completed", "Failed", "Terminated")


@pytest.fixture
def world(tmp_path: Path, azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[World]:
    """east primary and west in the emulator; the app on a LocalHost whose runtime keeps its
    state in a fresh Azurite container (as in Azure)."""
    defaults = dict(VaultSession.__init__.__kwdefaults__ or {})
    defaults["retry_backoff"] = BACKOFF
    monkeypatch.setattr(VaultSession.__init__, "__kwdefaults__", defaults)
    gen = start_env(tmp_path, US_PAIR)
    env = next(gen)
    env.engine.stop()  # the host runs its own engine
    state = azurite.store()
    runtime = Runtime(config=env.config, credential=env.runtime.credential, state=state,
                      fingerprint_key=env.runtime.fingerprint_key)
    previous = configure(runtime)
    http_utils._client_session = None  # bound to the loop of the host that made it
    reset_caches()
    try:
        with LocalHost(function_app.app, state_dir=tmp_path / "host", port=0) as host:
            yield World(env, host, state, azurite.connection_string, LeakScanner())
    finally:
        reset_caches()
        configure(previous)
        runtime.close()
        gen.close()


def _seed(world: World) -> tuple[list[str], list[str]]:
    """Secrets (every other value exotic, some with an older version), two exportable
    certificates and two keys in east; returns (secret names, key and certificate names)."""
    emu, scanner = world.env.emu, world.scanner
    names = [f"app-s{i:04d}" for i in range(SECRETS)]
    with emu.secret_client("east") as east:
        for i, name in enumerate(names):
            for version in range(2 if i % 5 == 0 else 1):
                value = unique_secret_value(f"seed-{i}-{version}", exotic=i % 2 == 0)
                scanner.add(value)
                east.set_secret(name, value, content_type="text/plain")
    with emu.certificate_client("east") as certs:
        for i in range(2):
            policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.self,
                                       subject=f"CN=leak-{i}.test", validity_in_months=12,
                                       exportable=True)
            certs.begin_create_certificate(f"app-c{i}", policy).result()
    with emu.key_client("east") as keys:
        keys.create_rsa_key("app-k0", size=2048)
        keys.create_ec_key("app-k1", curve="P-256")
    return names, ["app-c0", "app-c1", "app-k0", "app-k1"]


def _write(world: World, region: str, name: str, tag: str) -> str:
    value = unique_secret_value(tag, exotic=True)
    world.scanner.add(value)
    with world.env.emu.secret_client(region) as client:
        client.set_secret(name, value)
    return value


def test_every_runbook_leaves_no_secret_value_anywhere(world: World, events) -> None:
    env, host, scanner = world.env, world.host, world.scanner
    outcomes: dict[str, Any] = {}
    with scanning_logs(scanner, "host logs (DEBUG)") as logs:
        names, keyed = _seed(world)
        current_topology(env.config, env.runtime.sessions())  # east primary at epoch 1

        run = world.run("full-sync", {})
        outcomes["full sync"] = run["output"]["status"]
        assert run["output"]["status"] == "succeeded", run["output"]

        # a secret-bearing path fails on purpose: west goes down after the second copy of a
        # run over new values (values read from east, the writes to west refused)
        for i in range(6):
            _write(world, "east", names[i], f"outage-{i}")
        down = env.emu.down_after_writes("west", 2, prefix="app-s")
        run = world.run("full-sync", {})
        assert down.is_set()
        env.emu.up("west")
        outcomes["full sync, west down mid-copy"] = run["output"]["status"]
        assert run["output"]["status"] != "succeeded", run["output"]
        failed = _scan_failures(scanner, run["output"], "the outage's full sync")
        run = world.run("full-sync", {})
        outcomes["full sync, rerun"] = run["output"]["status"]
        assert run["output"]["status"] == "succeeded", run["output"]

        # the event path: new versions in east reach west through the Event Grid webhook; west
        # is down for the first deliveries (the handler fails, Event Grid retries)
        env.emu.subscribe_events(f"{host.base_url}/runtime/webhooks/EventGrid"
                                 "?functionName=event_grid_sync", vault="east")
        env.emu.down("west")
        fresh = {names[i]: _write(world, "east", names[i], f"event-{i}") for i in range(3)}
        _wait(lambda: env.emu.event_subscriptions()[0]["retries"] >= 2)
        env.emu.up("west")
        assert env.emu.wait_events_delivered(120)
        retried = env.emu.event_subscriptions()[0]["retries"]
        with env.emu.secret_client("west") as west:
            assert all(west.get_secret(n).value == v for n, v in fresh.items()), "not copied"
        outcomes["event sync"] = f"{len(fresh)} copied after {retried} retried deliveries"

        run = world.run("drill", {"targets": ["west"]})
        outcomes["drill"] = run["runtime_status"]
        assert run["runtime_status"] == "Completed", run

        # a restore: one secret overwritten with a bad value after TIME, brought back
        env.emu.advance(2)
        at = env.emu.clock.now().isoformat()
        env.emu.advance(2)
        _write(world, "east", names[1], "restore-bad")
        env.emu.advance(2)
        run = world.run("restore", {"as_of": at, "names": ["app-*"], "kinds": ["secrets"],
                                    "approval_required": False, "reason": "leak suite"})
        outcomes["restore"] = run["output"]["outcome"]
        assert run["output"]["outcome"] == "succeeded", run["output"]

        run = world.run("failover", {"target": "west", "reason": "leak suite, planned"})
        outcomes["planned failover"] = run["output"]["outcome"]
        assert run["output"]["outcome"] == "completed", run["output"]
        run = world.run("failback", {"target": "east", "reason": "leak suite, back"})
        outcomes["failback"] = run["output"]["outcome"]
        assert run["output"]["outcome"] == "completed", run["output"]

        env.emu.down("east")
        run = world.run("failover", {"target": "west", "reason": "leak suite, east lost",
                                     "mode": "unplanned"})
        env.emu.up("east")
        outcomes["unplanned failover"] = run["output"]["outcome"]
        assert run["output"]["outcome"] == "completed", run["output"]
        _write(world, "west", names[2], "after-unplanned")  # a write on the new primary
        run = world.run("failback", {"target": "east", "reason": "leak suite, east back"})
        outcomes["failback after unplanned"] = run["output"]["outcome"]
        assert run["output"]["outcome"] == "completed", run["output"]

    for key in private_keys(env.emu, "east", keyed):
        scanner.add(key)
    failed += _scan_failed_activities(scanner, host)
    instances = scan_engine(scanner, host.engine, "host engine")
    instances += scan_management_api(scanner, host.base_url)
    scanner.scan_path(host.engine.state_dir)
    scanner.scan_path(env.state_dir)
    scanner.scan_blobs(world.storage)
    scanner.scan_spans(events)
    summary = scanner.summary()
    print("\nleaks, every runbook: " + json.dumps({
        "size": SIZE, "outcomes": outcomes, **summary, "instances": instances,
        "http_answers": world.answers, "log_records": logs.records,
        "failed_activity_texts": failed}))
    assert failed >= 1  # the outage's exception texts were there to scan
    assert summary["places_by_kind"].get("blob", 0) >= 1  # the state store really was Azurite
    scanner.assert_clean()


def _wait(condition: Callable[[], bool], timeout: float = 120) -> None:
    """Synchronisation only: until ``condition`` holds (the assertions come after)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _scan_failures(scanner: LeakScanner, report: dict[str, Any], where: str) -> int:
    """A report's failures and errors: the texts kvdr made of the exceptions it caught."""
    texts = [json.dumps(f) for f in report.get("failures", []) + report.get("errors", [])]
    for i, text in enumerate(texts):
        scanner.scan_text(f"{where}: failure {i}", text, kind="exception")
    return len(texts)


def _scan_failed_activities(scanner: LeakScanner, host: LocalHost) -> int:
    """The exception texts of every failed activity, as the history holds them."""
    count = 0
    for row in host.engine.list_instances():
        status = host.engine.get_status(row.instance_id, show_history=True,
                                        show_history_output=True)
        for event in (status.history or []) if status else []:
            if event.get("EventType") in ("TaskFailed", "SubOrchestrationInstanceFailed",
                                          "ExecutionFailed"):
                count += 1
                scanner.scan_text(f"exception text of {event.get('Name', '?')} in "
                                  f"{row.instance_id}",
                                  f"{event.get('Reason')}\n{event.get('Details')}",
                                  kind="exception")
    return count


@pytest.mark.slow
def test_the_command_line_prints_and_keeps_no_secret_value(tmp_path: Path) -> None:
    """The runbooks as an operator runs them (a ``kvdr`` process each on the local engine, its
    SQLite and file state store): every output, text and JSON, and the state dir."""
    scanner = LeakScanner()
    state = tmp_path / "state"
    codes: dict[str, int] = {}

    def kvdr(config: str, label: str, *args: str) -> None:
        done = run_kvdr(*args, "--config", config, "--state-dir", str(state), cwd=tmp_path)
        codes[label] = done.returncode
        scanner.scan_text(f"kvdr {label} stdout", done.stdout, kind="CLI output")
        scanner.scan_text(f"kvdr {label} stderr", done.stderr, kind="CLI output")

    for emu in two_regions():
        config = str(write_toml(emu, tmp_path / "kvdr.toml"))
        with emu.secret_client("east") as east:
            for i in range(max(4, SECRETS // 4)):
                value = unique_secret_value(f"cli-{i}", exotic=i % 2 == 1)
                scanner.add(value)
                east.set_secret(f"app-cli{i:03d}", value)
            emu.advance(2)
            at = emu.clock.now().isoformat()
            emu.advance(2)
            scanner.add(bad := unique_secret_value("cli-bad"))
            east.set_secret("app-cli000", bad)  # overwritten after TIME: the restore undoes it
            emu.advance(2)
        with emu.key_client("east") as keys:
            keys.create_ec_key("app-cli-key", curve="P-256")

        kvdr(config, "sync", "sync")
        kvdr(config, "sync --json", "sync", "--json")
        kvdr(config, "restore", "restore", "--as-of", at, "--names", "app-*", "--yes",
             "--reason", "leak suite")
        kvdr(config, "drill --json", "drill", "--json")
        kvdr(config, "failover", "failover", "--target", "west", "--reason", "leak suite",
             "--yes")
        kvdr(config, "failback --json", "failback", "--target", "east", "--reason", "back",
             "--yes", "--json")
        emu.down("east")
        kvdr(config, "unplanned failover", "failover", "--target", "west", "--reason",
             "east lost", "--unplanned", "--yes")
        emu.up("east")
        kvdr(config, "failback after unplanned", "failback", "--target", "east", "--reason",
             "east back", "--yes")
        kvdr(config, "status --json", "status", "--json")
        for key in private_keys(emu, "east", ["app-cli-key"]):
            scanner.add(key)
        scanner.scan_path(state)
    summary = scanner.summary()
    print("\nleaks, command line: " + json.dumps({"size": SIZE, "exit_codes": codes,
                                                 **summary}))
    assert set(codes.values()) == {0}, codes  # every runbook ran and completed
    scanner.assert_clean()
