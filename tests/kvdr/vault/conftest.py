"""Fixtures for vault access and copier tests: a Config pointing at the emulator, sessions with
a short retry backoff, and unique item names (the session emulator is shared)."""

from __future__ import annotations

import itertools
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kvdr.config.schema import Config
from kvdr.vault.pacing import PacerRegistry
from kvdr.vault.session import VaultSession

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # vault_test_support (no tests/__init__.py, see pyproject)

from vault_test_support import FAST_BACKOFF, emulator_config  # noqa: E402

_counter = itertools.count()


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
