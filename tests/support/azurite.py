"""A real Azurite (npm, pinned by package-lock.json) for the tests that need Azure Storage: its
blob service for the state store, its queue service for the rotation queue. Each service is
started once per session on a free loopback port, on first use.

Fixtures: ``azurite`` (blob: :class:`AzuriteBlob`) and ``azurite_queue``
(:class:`AzuriteQueue`).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from kvdr.state.blob import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, BlobStateStore

REPO = Path(__file__).resolve().parents[2]
AZURITE_PACKAGE = REPO / "node_modules" / "azurite" / "package.json"
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class AzuriteBlob:
    port: int

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
                f"AccountKey={DEV_ACCOUNT_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{self.port}/{DEV_ACCOUNT_NAME};")

    def store(self, container: str | None = None, **kwargs) -> BlobStateStore:
        """A store on a fresh (or the given) container of this Azurite."""
        return BlobStateStore.from_settings(
            {"AzureWebJobsStorage": self.connection_string},
            container=container or f"t-{uuid.uuid4().hex[:20]}", **kwargs)


@dataclass(frozen=True)
class AzuriteQueue:
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
                f"AccountKey={DEV_ACCOUNT_KEY};QueueEndpoint={self.endpoint};")

    def queue_name(self) -> str:
        """A fresh queue name (3-63 lowercase letters, digits and hyphens)."""
        return f"t-{uuid.uuid4().hex[:20]}"

    def client(self, queue: str) -> QueueClient:
        """A client of ``queue``, for a test to read back what kvdr sent (the caller closes)."""
        return QueueClient.from_connection_string(self.connection_string, queue)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _script(service: str) -> Path:
    if shutil.which("node") is None:
        pytest.skip(f"node is not installed: these tests need Azurite's {service} service (npm)")
    if not AZURITE_PACKAGE.is_file():
        pytest.fail(f"Azurite is not installed ({AZURITE_PACKAGE} is missing): run "
                    "`make node_modules` (npm ci --no-audit --no-fund) first", pytrace=False)
    bin_ = json.loads(AZURITE_PACKAGE.read_text())["bin"][f"azurite-{service}"]
    return AZURITE_PACKAGE.parent / bin_


def _start(service: str, location: Path) -> Iterator[int]:
    """Run ``azurite-<service>`` on a free port until the generator is closed."""
    script = _script(service)
    log = location / f"azurite-{service}.log"
    for _ in range(3):  # the free port may be taken before Azurite binds it
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["node", str(script), f"--{service}Host", "127.0.0.1", f"--{service}Port",
                 str(port), "--location", str(location), "--skipApiVersionCheck",
                 "--disableTelemetry", "--silent"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline and not _accepts(port):
            time.sleep(0.05)
        if proc.poll() is None and _accepts(port):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"Azurite's {service} service did not start: "
                    f"{log.read_text(errors='replace')[-2000:]}", pytrace=False)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[AzuriteBlob]:
    """Azurite's blob service on a free loopback port, for the whole session."""
    for port in _start("blob", tmp_path_factory.mktemp("azurite-blob")):
        yield AzuriteBlob(port)


@pytest.fixture(scope="session")
def azurite_queue(tmp_path_factory) -> Iterator[AzuriteQueue]:
    """Azurite's queue service on a free loopback port, for the whole session."""
    for port in _start("queue", tmp_path_factory.mktemp("azurite-queue")):
        yield AzuriteQueue(port)
