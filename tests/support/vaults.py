"""Vault access and copier test helpers: a Config pointing at the emulator, sessions with a
short retry backoff, unique item names (the session emulator is shared), and plan -> execute ->
replan helpers. The fixtures are registered for every folder in tests/conftest.py."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from emulator.testing import Emulator
from kvdr.config.schema import Config, Pacing, Policies
from kvdr.sync.model import PlanAction, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.replicate import execute_items
from kvdr.sync.report import BatchResult
from kvdr.vault.inventory import Inventory, ItemKind
from kvdr.vault.pacing import PacerRegistry
from kvdr.vault.session import VaultSession
from kvdr_cli import emulated

FINGERPRINT_KEY = b"f" * 40
FAST_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8)

_counter = itertools.count()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("db")`` -> ``"db-<random>"``: names no other test uses."""
    run = uuid.uuid4().hex[:8]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{run}-{next(_counter)}"
    return make


@pytest.fixture
def config(kv_emulator: Emulator) -> Config:
    return emulator_config(kv_emulator)


@pytest.fixture
def make_sessions() -> Iterator[Callable[..., dict[str, VaultSession]]]:
    opened: list[VaultSession] = []

    def make(config: Config, *, pacers: PacerRegistry | None = None) -> dict[str, VaultSession]:
        pacers = pacers or PacerRegistry(config.pacing)
        sessions = {r: VaultSession(config, r, pacers=pacers, retry_backoff=FAST_BACKOFF)
                    for r in config.region_names}
        opened.extend(sessions.values())
        return sessions

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def sessions(config: Config, make_sessions: Callable[..., dict[str, VaultSession]]
             ) -> dict[str, VaultSession]:
    return make_sessions(config)


def emulator_config(emu: Emulator, regions: Sequence[str] | None = None, *,
                    primary: str | None = None, policies: Policies | None = None,
                    pacing: Pacing | None = None) -> Config:
    names = list(regions or emu.vaults)
    config = emulated.emulator_config(
        {name: emu.url(name) for name in names}, emu.ca_cert, primary=primary,
        vault_names={name: f"kv-{name}" for name in names},
        geographies={name: emu.vaults[name].geography for name in names})
    if policies is not None or pacing is not None:
        config = replace(config, policies=policies or config.policies,
                         pacing=pacing or config.pacing)
    return config


def plan_for(config: Config, source: VaultSession, target: VaultSession,
             names: Iterable[str] | None = None, *, epoch: int = 1,
             kinds: Iterable[ItemKind] = tuple(ItemKind)) -> SyncPlan:
    """A plan restricted to ``names`` (the session emulator holds other tests' items)."""
    src, tgt = source.inventory(kinds), target.inventory(kinds)
    if names is not None:
        wanted = {n.lower() for n in names}
        src = Inventory(src.region, tuple(p for p in src.items if p.name.lower() in wanted),
                        frozenset(k for k in src.deleted if k.split("/", 1)[1] in wanted),
                        src.complete)
        tgt = Inventory(tgt.region, tuple(p for p in tgt.items if p.name.lower() in wanted),
                        frozenset(k for k in tgt.deleted if k.split("/", 1)[1] in wanted),
                        tgt.complete)
    return plan_sync(src, tgt, source_region=source.region, target_region=target.region,
                     policies=config.policies,
                     same_subscription=config.same_subscription(source.region, target.region),
                     same_geography=config.same_geography(source.region, target.region),
                     now=datetime.now(UTC), epoch=epoch)


def execute(config: Config, source: VaultSession, target: VaultSession, plan: SyncPlan
            ) -> BatchResult:
    return execute_items(source, target, plan.executable, policies=config.policies,
                         fingerprint_key=FINGERPRINT_KEY)


def actions(plan: SyncPlan) -> dict[str, str]:
    return {i.name: str(i.action) for i in plan.items}


def pending_work(plan: SyncPlan) -> dict[str, str]:
    """Items a converged pair would still act on."""
    return {i.name: str(i.action) for i in plan.items
            if i.action not in (PlanAction.UNCHANGED, PlanAction.SKIP, PlanAction.TARGET_ONLY)}


def version_count(session: VaultSession, kind: ItemKind, name: str) -> int:
    if kind == ItemKind.SECRET:
        return len(list(session.secrets.list_properties_of_secret_versions(name)))
    if kind == ItemKind.KEY:
        return len(list(session.keys.list_properties_of_key_versions(name)))
    return len(list(session.certificates.list_properties_of_certificate_versions(name)))
