"""``GET /api/topology`` through the local engine's host serving the real function app: the
primary and each region's record, the configured primary before any record exists, where
rotation messages go, 405 for another method, 503 when no vault answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from engine.host import LocalHost
from kvdr.rotation.publisher import forget_publishers
from kvdr.topology.record import initial_record, next_epoch
from kvdr.topology.store import write_topology
from support.runbooks import call, hosted_app
from support.sync import US_PAIR, SyncEnv, start_env
from triggers.topology import read_topology_view


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[tuple[SyncEnv, LocalHost]]:
    yield from hosted_app(tmp_path)


def test_the_topology_names_the_primary_each_regions_record_and_the_rotation_queue(
        hosted) -> None:
    env, host = hosted
    status, before = call(host, "GET", "/api/topology")
    assert status == 200
    # no sync has run: no record yet, the configured initial primary
    assert (before["primary"], before["epoch"], before["recorded"]) == ("east", None, False)
    assert before["regions"]["west"] == {"vault_url": env.emu.url("west"), "reachable": True,
                                         "epoch": None}
    assert before["rotation_queue"]["enabled"] is False

    sessions = env.runtime.sessions()
    first = initial_record("east", changed_at=datetime.now(UTC))
    moved = next_epoch(first, "west", changed_at=datetime.now(UTC), changed_by="test",
                       reason="failover test")
    write_topology(sessions["east"], first)   # east missed the switch (it was down)
    write_topology(sessions["west"], moved)
    status, body = call(host, "GET", "/api/topology")
    assert status == 200
    assert (body["primary"], body["epoch"], body["split_brain"], body["recorded"]) == (
        "west", 2, False, True)
    assert body["primary_vault_url"] == env.emu.url("west")
    assert body["changed_at"] == moved.to_dict()["changed_at"]
    assert {name: r["epoch"] for name, r in body["regions"].items()} == {"east": 1, "west": 2}


def test_any_other_method_is_405_with_a_stable_code(hosted) -> None:
    _, host = hosted
    for method in ("POST", "DELETE"):
        status, body = call(host, method, "/api/topology", body={})
        assert status == 405 and body["error"]["code"] == "request.method_not_allowed"
    request = Request(host.base_url + "/api/topology", data=b"{}", method="PUT")
    with pytest.raises(HTTPError) as raised:
        urlopen(request, timeout=30)
    assert raised.value.code == 405 and raised.value.headers["Allow"] == "GET"


def test_no_vault_answering_is_503_with_a_stable_code(hosted) -> None:
    env, host = hosted
    env.emu.down("east")
    env.emu.down("west")
    try:
        status, body = call(host, "GET", "/api/topology")
    finally:
        env.emu.up("east")
        env.emu.up("west")
    assert status == 503 and body["error"]["code"] == "topology.unreachable"
    # one vault back: an answer again, the unreachable one flagged
    env.emu.down("west")
    try:
        status, body = call(host, "GET", "/api/topology")
    finally:
        env.emu.up("west")
    assert status == 200 and body["regions"]["west"]["reachable"] is False
    assert body["regions"]["west"]["error"].startswith("vault.")


def test_the_rotation_queue_is_shown_without_its_key(tmp_path, azurite_queue,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("TopologyTestQueue", azurite_queue.connection_string)
    forget_publishers()
    gen = start_env(tmp_path, US_PAIR, sections={"rotation": {
        "queue": "kvdr-rotation", "connection": "TopologyTestQueue"}})
    env = next(gen)
    try:
        body = read_topology_view(env.runtime)
    finally:
        gen.close()
        forget_publishers()
    assert body is not None and body["rotation_queue"] == {
        "enabled": True, "queue": "kvdr-rotation", "connection": "TopologyTestQueue",
        "auth": "connection string", "url": f"{azurite_queue.endpoint}/kvdr-rotation"}
    assert "AccountKey" not in str(body)
