"""The authorization suite's world: two emulated vaults with a roles file (an admin, a
replicator that may write the primary but only read the secondary, a reader), seeded through
the admin; `kvdr` run as an operator runs it with a chosen identity; what each vault holds,
as digests (a comparison never prints a value)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.testing import Emulator
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.cli import ROOT
from support.host_process import HostProcess, start_kvdr_host

REGIONS = ("east", "west")
ADMIN, REPLICATOR, READER, UNFENCING = "admin", "replicator", "reader", "unfencing"
ROLES: dict[str, Any] = {
    ADMIN: "full",
    REPLICATOR: {"east": "full", "west": "read"},  # may not write the secondary
    READER: "read",
    UNFENCING: {"east": "read", "west": "full"},  # may not write (fence) the old primary
}


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


def start_host(world: World, token: str, state_dir: Path) -> HostProcess:
    """`kvdr host` on the world's configuration with ``token`` as its identity."""
    return start_kvdr_host("local", world.config, state_dir, {"KVDR_EMULATOR_TOKEN": token})
