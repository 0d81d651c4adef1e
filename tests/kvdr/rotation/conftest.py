"""The rotation tests' world: the emulator's east (primary) and west, the real function app on
the engine with the runtime installed (support.sync), and a fresh queue on the session's
Azurite that the config's rotation connection points at."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from kvdr.events.handler import reset_caches
from kvdr.rotation.message import RotationMessage
from kvdr.rotation.publisher import forget_publishers
from kvdr.topology.reading import read_topology
from kvdr.topology.record import TopologyRecord, next_epoch
from kvdr.topology.store import write_topology
from support.azurite import AzuriteQueue
from support.sync import US_PAIR, SyncEnv, start_env

CONNECTION = "KvdrRotationTest"
DAY = 86400


@dataclass
class RotationEnv:
    sync: SyncEnv
    queue: QueueClient
    queue_name: str

    def messages(self) -> list[RotationMessage]:
        """Every message in the queue, read without taking it (peek), parsed."""
        return [RotationMessage.from_json(m.content)
                for m in self.queue.peek_messages(max_messages=32)]

    def raw_messages(self) -> list[str]:
        return [m.content for m in self.queue.peek_messages(max_messages=32)]

    def fail_over(self, to: str) -> TopologyRecord:
        """Switch the topology to ``to`` (epoch + 1) in every vault, as a failover's switch
        does, and make the process's event handler forget what it cached."""
        sessions = self.sync.runtime.sessions()
        current = read_topology(sessions["east"]) or read_topology(sessions["west"])
        assert current is not None
        record = next_epoch(current, to, changed_at=datetime.now(UTC), changed_by="test",
                            reason="rotation test failover")
        for session in sessions.values():
            write_topology(session, record)
        reset_caches()
        return record


def start_rotation_env(tmp_path: Path, azurite_queue: AzuriteQueue,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[RotationEnv]:
    queue = azurite_queue.queue_name()
    monkeypatch.setenv(CONNECTION, azurite_queue.connection_string)
    forget_publishers()
    reset_caches()
    gen = start_env(tmp_path, US_PAIR,
                    sections={"rotation": {"queue": queue, "connection": CONNECTION}})
    env = next(gen)
    client = azurite_queue.client(queue)
    client.create_queue()  # so that peeking before the first message finds an empty queue
    try:
        yield RotationEnv(env, client, queue)
    finally:
        client.close()
        gen.close()
        forget_publishers()
        reset_caches()


@pytest.fixture
def rotation_env(tmp_path, azurite_queue, monkeypatch) -> Iterator[RotationEnv]:
    yield from start_rotation_env(tmp_path, azurite_queue, monkeypatch)
