"""The authorization suite's world: two emulated vaults with a roles file (an admin, a
replicator that may write the primary but only read the secondary, a reader), seeded through
the admin; `kvdr` run as an operator runs it with a chosen identity; what each vault holds,
as digests (a comparison never prints a value)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.testing import Emulator
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.cli import ROOT

REGIONS = ("east", "west")
ADMIN, REPLICATOR, READER, UNFENCING = "admin", "replicator", "reader", "unfencing"
ROLES: dict[str, Any] = {
    ADMIN: "full",
    REPLICATOR: {"east": "full", "west": "read"},  # may not write the secondary
    READER: "read",
    UNFENCING: {"east": "read", "west": "full"},  # may not write (fence) the old primary
}
HOST_READY_SECONDS = 60


@dataclass
class Run:
    token: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@dataclass
class World:
    emu: Emulator
    config: Path
    state: Path
    runs: list[Run] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)

    def kvdr(self, token: str, *args: str, timeout: float = 600) -> Run:
        """``python -m kvdr_cli ARGS --config … --state-dir …`` with ``token`` as kvdr's
        identity (``KVDR_EMULATOR_TOKEN``), stdin not a terminal."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
        env.update(PYTHONPATH=str(ROOT), KVDR_EMULATOR_TOKEN=token)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "kvdr_cli", *args, "--config", str(self.config),
             "--state-dir", str(self.state)], cwd=self.state.parent, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        run = Run(token, args, done.returncode, done.stdout, done.stderr,
                  time.monotonic() - started)
        self.runs.append(run)
        self.figures["commands"] += 1
        return run

    def refused(self, vault: str) -> int:
        """Requests the vault answered 403 so far."""
        ops = self.emu.stats(vault)["operations"]
        return sum(by_status.get("403", 0) for by_status in ops.values())


def snapshot(emu: Emulator, vault: str) -> dict[str, str]:
    """Every live and deleted item of ``vault`` as a digest of its versions, attributes, tags
    and per-name extras: two equal snapshots mean nothing was written in between."""
    store = emu.store(vault)
    found: dict[str, str] = {}
    with store.lock:
        for where, table in (("live", store.live), ("deleted", store.deleted)):
            for kind, items in table.items():
                for name, item in items.items():
                    text = json.dumps(item.to_dict(), sort_keys=True, default=str)
                    found[f"{where} {kind} {name}"] = hashlib.sha256(text.encode()).hexdigest()
    return found


def topology_records(emu: Emulator) -> dict[str, tuple[int, str | None, int]]:
    """(versions, primary, epoch) of the topology secret each vault holds."""
    held: dict[str, tuple[int, str | None, int]] = {}
    for vault in REGIONS:
        store = emu.store(vault)
        with store.lock:
            item = store.get("secrets", TOPOLOGY_SECRET_NAME)
            latest = item.get() if item is not None else None
            record = json.loads(latest.data["value"]) if latest is not None else {}
            held[vault] = (len(item.versions) if item else 0, record.get("primary"),
                           int(record.get("epoch", 0)))
    return held


# --- the local host, run as `kvdr host` with an identity ---------------------------------------


@dataclass
class Host:
    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    def get(self, path: str) -> tuple[int, Any, str]:
        """(status, parsed JSON, raw text) of a GET; HTTP errors returned, not raised."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read().decode()
                return response.status, json.loads(text), text
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            return exc.code, json.loads(text) if text.startswith("{") else None, text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_host(world: World, token: str, state_dir: Path) -> Host:
    """`kvdr host` on the world's configuration with ``token`` as its identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env.update(PYTHONPATH=str(ROOT), KVDR_EMULATOR_TOKEN=token)
    port = _free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    out, err = state_dir / "host.stdout", state_dir / "host.stderr"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kvdr_cli", "host", "--config", str(world.config),
             "--state-dir", str(state_dir), "--port", str(port)], cwd=state_dir, env=env,
            stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)
    host = Host(proc, port, out, err)
    deadline = time.monotonic() + HOST_READY_SECONDS
    while "ready" not in out.read_text(errors="replace").split():
        if proc.poll() is not None or time.monotonic() > deadline:
            host.stop()
            raise AssertionError("the host did not start: "
                                 f"{err.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return host
