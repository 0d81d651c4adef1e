"""Shared fixtures of the full-sync tests: an emulator with fresh vaults, a Config pointing at
them, the runtime installed for the process, and the engine running the real function app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator.server import VaultSpec
from emulator.testing import Emulator
from engine import Engine
from kvdr.config.schema import Config
from kvdr.services import Runtime, configure, local_runtime
from kvdr_cli import emulated

WRITE_OPS = ("SetSecret", "UpdateSecret", "DeleteSecret", "RecoverDeletedSecret",
             "RestoreSecret", "ImportCertificate", "CreateCertificate", "UpdateCertificate",
             "DeleteCertificate", "RecoverDeletedCertificate", "RestoreCertificate",
             "CreateKey", "ImportKey", "UpdateKey", "DeleteKey", "RecoverDeletedKey",
             "RestoreKey")


def emulator_config(emu: Emulator, regions: Sequence[str], *, primary: str | None = None,
                    **sections: Any) -> Config:
    """A kvdr.toml-equivalent Config for the emulator's vaults (region name = vault name)."""
    return emulated.emulator_config(
        {name: emu.url(name) for name in regions}, emu.ca_cert, primary=primary,
        geographies={name: emu.vaults[name].geography for name in regions}, **sections)


@dataclass
class SyncEnv:
    emu: Emulator
    config: Config
    runtime: Runtime
    engine: Engine
    state_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    def sync(self, *, dry_run: bool = False, targets: Sequence[str] | None = None,
             timeout: float = 120) -> dict[str, Any]:
        body: dict[str, Any] = {"dry_run": dry_run}
        if targets is not None:
            body["targets"] = list(targets)
        iid = self.engine.start_new("full_sync", body, instance_id=f"sync-{uuid.uuid4().hex}")
        record = self.engine.result(iid, timeout=timeout)
        self.records.append(record)
        return record

    def writes(self, vault: str) -> int:
        """Writes the vault applied (2xx): a refused one, or the write-permission check's
        update of a name that does not exist (404), changes nothing."""
        ops = self.emu.stats(vault)["operations"]
        return sum(n for op in WRITE_OPS for status, n in ops.get(op, {}).items()
                   if str(status).startswith("2"))


def start_env(tmp_path: Path, vaults: Sequence[VaultSpec], *,
              sections: dict[str, Any] | None = None,
              **emulator_kwargs: Any) -> Iterator[SyncEnv]:
    emu = Emulator(vaults, **emulator_kwargs).start()
    try:
        config = emulator_config(emu, [v.name for v in vaults], **(sections or {}))
        runtime = local_runtime(config, tmp_path)
        previous = configure(runtime)
        # here, not at the top: this module is a pytest plugin every session loads, and only
        # the tests that start an env need the whole app imported
        import function_app

        try:
            with Engine(function_app.app, tmp_path / "engine") as engine:
                yield SyncEnv(emu, config, runtime, engine, tmp_path)
        finally:
            configure(previous)
            runtime.close()
    finally:
        emu.stop()


US_PAIR = (VaultSpec("east", geography="us"), VaultSpec("west", geography="us"))
WITH_EUROPE = (*US_PAIR, VaultSpec("europe", geography="eu"))


@pytest.fixture
def sync_env(tmp_path: Path) -> Iterator[SyncEnv]:
    """east (primary) -> west, both geography us, no throttling."""
    yield from start_env(tmp_path, US_PAIR)


@pytest.fixture
def sync_env_factory(tmp_path: Path) -> Iterator[Any]:
    """``sync_env_factory(vaults, sections={...}, throttle=..., fault_rate=...)``."""
    started: list[Iterator[SyncEnv]] = []

    def start(vaults: Sequence[VaultSpec] = US_PAIR, **kwargs: Any) -> SyncEnv:
        gen = start_env(tmp_path / f"env{len(started)}", vaults, **kwargs)
        started.append(gen)
        return next(gen)

    yield start
    for gen in reversed(started):
        gen.close()
