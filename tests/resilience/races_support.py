"""The race suite's machinery: three emulated regions (a, b and c, the old primary), two
`kvdr host` processes (one per region: separate task hubs and state), an in-vault write log
(the emulator's write observer, so the order of writes is exact), a stale writer on the event
path, and the sampler that compares `GET /api/status` with what the vaults hold."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.server import VaultSpec
from emulator.testing import Emulator
from kvdr.events.handler import EventHandler
from kvdr.events.model import EventChange, VaultEvent
from kvdr.services import local_runtime
from kvdr.topology.record import TopologyRecord
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LINK_TAG, TOPOLOGY_SECRET_NAME, parse_link
from kvdr_cli.emulated import emulator_document, to_toml
from support.host_process import HostProcess, start_kvdr_host

REGIONS = ("a", "b", "c")
OLD_PRIMARY = "c"
VAULT_NAMES = {region: f"kv-{region}" for region in REGIONS}  # Key Vault names are 3-24 chars
TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")


def three_regions() -> Iterator[Emulator]:
    with Emulator([VaultSpec(name, geography="us") for name in REGIONS]) as emu:
        yield emu


def write_config(emu: Emulator, path: Path, local_region: str, **sections: Any) -> Path:
    """c is the initial primary; alerts start runbooks without an approval (the alert host)."""
    document = emulator_document({name: emu.url(name) for name in REGIONS}, emu.ca_cert,
                                 vault_names=VAULT_NAMES, primary=OLD_PRIMARY, **sections)
    document["topology"]["local_region"] = local_region
    document.setdefault("policies", {})["approval"] = "auto"
    path.write_text(to_toml(document))
    return path


# --- the hosts ----------------------------------------------------------------------------

Host = HostProcess  # one region's `kvdr host`; its name is the region


def start_host(region: str, config: Path, state_dir: Path) -> Host:
    return start_kvdr_host(region, config, state_dir)


def runbook_id(answer: Any) -> str | None:
    return answer.get("instance_id") or answer.get("id") if isinstance(answer, dict) else None


def wait_runbook(host: Host, instance_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = host.call("GET", f"/api/runbooks/{instance_id}")
        if status == 200 and body.get("runtime_status") in TERMINAL:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"runbook {instance_id} on {host.name} did not finish: "
                                 f"{status} {body and body.get('custom_status')}")
        time.sleep(0.1)


# --- the vaults' records and the write log ------------------------------------------------


def _record_of(version: Any) -> tuple[str, int, str | None] | None:
    try:
        data = json.loads(version.data["value"])
        return data["primary"], int(data["epoch"]), data.get("runbook_id")
    except (KeyError, TypeError, ValueError):
        return None


def held_records(emu: Emulator) -> dict[str, tuple[str, int, str | None] | None]:
    """(primary, epoch, runbook) each vault holds now, read from the store (a vault that is
    down still has its contents)."""
    found: dict[str, tuple[str, int, str | None] | None] = {}
    for vault in REGIONS:
        store = emu.store(vault)
        with store.lock:
            item = store.get("secrets", TOPOLOGY_SECRET_NAME)
            latest = item.get() if item is not None else None
            found[vault] = _record_of(latest) if latest is not None else None
    return found


def rivals(records: dict[str, tuple[str, int, str | None] | None]) -> bool:
    """Two different primaries at the top epoch."""
    present = [r for r in records.values() if r is not None]
    top = max(r[1] for r in present)
    return len({r[0] for r in present if r[1] == top}) > 1


def reset_topology(emu: Emulator, race: int) -> int:
    """c primary at the next epoch in every vault (what a failback would leave): the cheap
    reset between races. Returns that epoch."""
    epoch = max((r[1] for r in held_records(emu).values() if r is not None), default=0) + 1
    record = TopologyRecord(primary=OLD_PRIMARY, epoch=epoch, changed_at=datetime.now(UTC),
                            changed_by="race-suite", reason=f"reset before race {race}")
    for vault in REGIONS:
        emu.secret_client(vault).set_secret(TOPOLOGY_SECRET_NAME, record.to_json(),
                                            content_type="application/json",
                                            tags={"kvdr-record": "topology"})
    return epoch


@dataclass(frozen=True)
class Write:
    vault: str
    name: str
    version: str
    topology_epoch: int | None    # a topology record version: its epoch
    link_epoch: int | None        # a replicated copy: the epoch its link tag carries
    primary: str | None = None    # a topology record version: its primary; a copy: its origin
    at: float = field(default_factory=time.monotonic)  # when the vault stored it


@dataclass
class WriteLog:
    """Every new secret version, in the order each vault stored it (the observer runs inside
    the vault's write, under its lock)."""

    emu: Emulator
    writes: list[Write] = field(default_factory=list)

    def __call__(self, vault: str, kind: str, name: str, version: str) -> None:
        if kind != "secrets":
            return
        item = self.emu.store(vault).get(kind, name)
        stored = item.get(version) if item is not None else None
        if stored is None:
            return
        if name.lower() == TOPOLOGY_SECRET_NAME:
            record = _record_of(stored)
            self.writes.append(Write(vault, name, version, record and record[1], None,
                                     record and record[0]))
            return
        link = parse_link(stored.tags.get(LINK_TAG))
        self.writes.append(Write(vault, name, version, None, link.epoch if link else None,
                                 link.origin_region if link else None))

    def attach(self) -> None:
        for vault in REGIONS:
            self.emu.store(vault).observers.append(self)

    def detach(self) -> None:
        for vault in REGIONS:
            self.emu.store(vault).observers.remove(self)

    def stale_copies(self, in_flight: float) -> dict[str, list[tuple[Write, float]]]:
        """Copies written with link epoch e into a vault whose record already had an epoch
        above e, each with how long after that record it landed, sorted three ways:

        * ``fenced``: from a region that was no longer the primary, landing more than
          ``in_flight`` seconds after the record — a fenced writer's write the vault accepted;
        * ``in_flight``: the same within ``in_flight`` seconds — a copy whose fence check
          read the vault just before the switch wrote it (check-then-write: Key Vault has no
          compare-and-swap), landing while the switch's settle step waits;
        * ``stale_tag``: from the primary in force, tagged with the epoch it had cached."""
        held: dict[str, tuple[int, str | None, float]] = {}
        found: dict[str, list[tuple[Write, float]]] = {"fenced": [], "in_flight": [],
                                                       "stale_tag": []}
        for write in list(self.writes):
            if write.topology_epoch is not None:
                before = held.get(write.vault, (0, None, 0.0))
                since = write.at if write.topology_epoch > before[0] else before[2]
                held[write.vault] = (write.topology_epoch, write.primary, since)
                continue
            epoch, primary, since = held.get(write.vault, (0, None, 0.0))
            if write.link_epoch is None or write.link_epoch >= epoch:
                continue
            late = write.at - since
            kind = ("stale_tag" if write.primary == primary
                    else "in_flight" if late <= in_flight else "fenced")
            found[kind].append((write, round(late, 3)))
        return found

    def rival_epochs(self) -> set[int]:
        """Epochs at which records for two different primaries were written: contested
        switches (both runbooks passed their checks), whether or not anyone saw the rivals."""
        primaries: dict[int, set[str]] = {}
        for write in list(self.writes):
            if write.topology_epoch is not None and write.primary:
                primaries.setdefault(write.topology_epoch, set()).add(write.primary)
        return {epoch for epoch, found in primaries.items() if len(found) > 1}

    def copies(self) -> int:
        return sum(1 for w in self.writes if w.link_epoch is not None)


# --- the stale writer ---------------------------------------------------------------------


class StaleWriter:
    """The application keeps writing to the old primary c, and the event path (kvdr's own
    EventHandler in this process, with its cached topology) copies each write to a and b,
    fenced by the record it reads in each target. Runs while c is up."""

    def __init__(self, emu: Emulator, config: Path, state_dir: Path,
                 value: Callable[[str], str]) -> None:
        self.emu, self.value = emu, value
        self.runtime = local_runtime(config, state_dir)
        self.handler = EventHandler()
        self.paused = threading.Event()
        self.parked = threading.Event()  # set while paused and between writes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stale-writer", daemon=True)
        self.written = self.handled = self.failed = 0

    def start(self) -> StaleWriter:
        self._thread.start()
        return self

    def pause(self) -> None:
        """Stop writing (before c goes down: a write to a dead c would hold the writer in its
        retries for the races after it); returns once the write in hand is done."""
        self.parked.clear()
        self.paused.set()
        self.parked.wait(120)

    def resume(self) -> None:
        self.paused.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.runtime.close()

    def _run(self) -> None:
        client = self.emu.secret_client(OLD_PRIMARY)
        n = 0
        while not self._stop.wait(0.05):
            if self.paused.is_set():
                self.parked.set()
                continue
            name = f"race-item-{n % 6}"
            n += 1
            try:
                secret = client.set_secret(name, self.value(name))
            except Exception:
                continue  # c is down for this race
            self.written += 1
            event = VaultEvent(id=str(uuid.uuid4()), kind=ItemKind.SECRET,
                               change=EventChange.NEW_VERSION,
                               vault_name=VAULT_NAMES[OLD_PRIMARY],
                               name=name, version=secret.properties.version or "")
            try:
                self.handler.handle(self.runtime, event, record_stats=False)
                self.handled += 1
            except Exception:
                self.failed += 1  # Event Grid would retry; the fence refused or c went down
