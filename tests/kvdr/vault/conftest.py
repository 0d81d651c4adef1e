"""Fixtures for vault access and copier tests: a Config pointing at the emulator, sessions with
a short retry backoff, and unique item names (the session emulator is shared)."""

from __future__ import annotations

import itertools
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from kvdr.config import Config, Pacing, Policies
from kvdr.pacing import PacerRegistry
from kvdr.vaults import VaultSession

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # vault_test_support (no tests/__init__.py, see pyproject)

SUB = "00000000-0000-0000-0000-000000000000"
FINGERPRINT_KEY = b"f" * 40
FAST_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8)
_counter = itertools.count()


def emulator_config(emu, regions: Sequence[str] | None = None, *, primary: str | None = None,
                    policies: Policies | None = None, pacing: Pacing | None = None) -> Config:
    names = list(regions or emu.vaults)
    document = {
        "regions": {
            name: {"vault_url": emu.url(name), "geography": emu.vaults[name].geography,
                   "resource_id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                  f"Microsoft.KeyVault/vaults/kv-{name}"}
            for name in names},
        "topology": {"initial_primary": primary or names[0]},
        "tls": {"ca_bundle": emu.ca_cert},
    }
    config = Config.from_dict(document)
    if policies is not None or pacing is not None:
        from dataclasses import replace
        config = replace(config, policies=policies or config.policies,
                         pacing=pacing or config.pacing)
    return config


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("db")`` -> ``"db-<random>"``: names no other test uses."""
    run = uuid.uuid4().hex[:8]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{run}-{next(_counter)}"
    return make


@pytest.fixture
def config(kv_emulator) -> Config:
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
def sessions(config, make_sessions) -> dict[str, VaultSession]:
    return make_sessions(config)
