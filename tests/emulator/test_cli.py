"""``python -m emulator serve`` as a process: JSON lines then ``ready``, clean SIGTERM exit,
persistence across restarts, and the admin port while a vault refuses connections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.keyvault.secrets import SecretClient

from emulator.server import free_port
from emulator.testing import FakeCredential, client_kwargs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[dict[str, Any]]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        vaults = []
        while True:
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            if line.strip() == "ready":
                break
            vaults.append(json.loads(line))
        yield proc, vaults
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


def test_serve_prints_vaults_then_ready_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with serve("--vault", f"east={port}", "--vault", "west=0", "--geography", "west=eu") as (
        proc,
        vaults,
    ):
        assert [v["name"] for v in vaults] == ["east", "west"]
        assert vaults[0]["url"] == f"https://127.0.0.1:{port}/"
        assert vaults[1]["geography"] == "eu" and vaults[0]["geography"] == "local"
        assert Path(vaults[0]["ca_cert"]).is_absolute() and Path(vaults[0]["ca_cert"]).exists()
        client = SecretClient(
            vaults[0]["url"], FakeCredential(), **client_kwargs(vaults[0]["ca_cert"])
        )
        assert client.set_secret("hello", "world").value == "world"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_state_dir_persists_across_process_restarts(tmp_path: Path) -> None:
    args = ("--vault", "vault=0", "--state-dir", str(tmp_path))
    with serve(*args) as (_, vaults):
        client = SecretClient(
            vaults[0]["url"], FakeCredential(), **client_kwargs(vaults[0]["ca_cert"])
        )
        client.set_secret("persisted", "across restarts")
    with serve(*args) as (proc, vaults):
        client = SecretClient(
            vaults[0]["url"], FakeCredential(), **client_kwargs(vaults[0]["ca_cert"])
        )
        assert client.get_secret("persisted").value == "across restarts"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


def test_admin_port_serves_while_a_vault_refuses_connections(tmp_path: Path) -> None:
    admin_port = free_port()
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps({"ops": "full", "auditor": "read"}))
    with serve(
        "--vault",
        "east=0",
        "--admin-port",
        str(admin_port),
        "--roles",
        str(roles),
        "--throttle",
        "realistic",
        "--fault-rate",
        "0",
        "--seed",
        "1",
    ) as (_, vaults):
        east = vaults[0]
        admin = f"https://127.0.0.1:{admin_port}/_emulator/east/"
        ca = east["ca_cert"]
        client = SecretClient(east["url"], FakeCredential("ops"), **client_kwargs(ca))
        client.set_secret("s", "v")
        assert requests.post(admin + "down", json={"mode": "refuse"}, verify=ca, timeout=5).ok
        with pytest.raises(requests.ConnectionError):
            requests.get(east["url"] + "_emulator/stats", verify=ca, timeout=5)
        stats = requests.get(admin + "stats", verify=ca, timeout=5).json()
        assert stats["operations"]["SetSecret"]["200"] == 1
        assert requests.post(admin + "up", verify=ca, timeout=5).ok
        reader = SecretClient(east["url"], FakeCredential("auditor"), **client_kwargs(ca))
        assert reader.get_secret("s").value == "v"


def test_bad_arguments_exit_with_an_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--vault", "novalue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "NAME=VALUE" in result.stderr


def test_down_refuse_on_the_vault_port_without_admin_port_leaves_a_way_back_up() -> None:
    with serve("--vault", "east=0") as (proc, vaults):
        east = vaults[0]
        ca = east["ca_cert"]
        client = SecretClient(east["url"], FakeCredential(), **client_kwargs(ca))
        client.set_secret("kept", "through the outage")
        down = requests.post(
            east["url"] + "_emulator/down", json={"mode": "refuse"}, verify=ca, timeout=5
        )
        assert down.status_code == 200, down.text
        admin = down.json()["admin_url"]
        assert admin.startswith("https://127.0.0.1:") and admin.endswith("/_emulator/east/")
        with pytest.raises(requests.ConnectionError):
            requests.get(east["url"] + "_emulator/stats", verify=ca, timeout=5)
        assert requests.post(admin + "up", verify=ca, timeout=5).ok
        assert client.get_secret("kept").value == "through the outage"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        assert admin.removesuffix("east/") in proc.stderr.read()
