"""Fixtures for the state stores: a real Azurite (blob only) started once per session, and a
``store`` fixture parametrised over FileStateStore and BlobStateStore."""

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

from kvdr.state.blob import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, BlobStateStore
from kvdr.state.store import FileStateStore

REPO = Path(__file__).resolve().parents[3]
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


def _azurite_blob_script() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the blob state store tests need Azurite (npm)")
    if not AZURITE_PACKAGE.is_file():
        pytest.fail(f"Azurite is not installed ({AZURITE_PACKAGE} is missing): run "
                    "`make node_modules` (npm ci --no-audit --no-fund) first", pytrace=False)
    bin_ = json.loads(AZURITE_PACKAGE.read_text())["bin"]["azurite-blob"]
    return AZURITE_PACKAGE.parent / bin_


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[AzuriteBlob]:
    """Azurite's blob service on a free loopback port, for the whole session."""
    script = _azurite_blob_script()
    location = tmp_path_factory.mktemp("azurite")
    log = location / "azurite.log"
    for _ in range(3):  # the free port may be taken before Azurite binds it
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["node", str(script), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                 "--location", str(location), "--skipApiVersionCheck", "--disableTelemetry",
                 "--silent"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline and not _accepts(port):
            time.sleep(0.05)
        if proc.poll() is None and _accepts(port):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"Azurite did not start: {log.read_text(errors='replace')[-2000:]}",
                    pytrace=False)
    try:
        yield AzuriteBlob(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["file", "blob"])
def store(request, tmp_path):
    """Each StateStore implementation, empty."""
    if request.param == "file":
        yield FileStateStore(tmp_path / "state")
        return
    blob = request.getfixturevalue("azurite").store()
    try:
        yield blob
    finally:
        blob.close()
