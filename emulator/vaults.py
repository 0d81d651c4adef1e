"""The emulator's vaults: what a vault is asked to be (``VaultSpec``) and what a running vault
holds (its store, counters, limits, faults, and listener)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.faults import FaultSchedule
from emulator.stats import Stats
from emulator.store import VaultStore
from emulator.throttle import Throttle

HOST = "127.0.0.1"
DEFAULT_GEOGRAPHY = "local"


class DownMode(StrEnum):
    REFUSE = "refuse"
    UNAVAILABLE = "503"
    HANG = "hang"  # accepts and never answers (clients time out); dropped once back up


class Role(StrEnum):
    READ = "read"
    FULL = "full"


@dataclass(frozen=True)
class VaultSpec:
    name: str
    port: int = 0  # 0: pick a free port
    geography: str = DEFAULT_GEOGRAPHY


@dataclass
class Vault:
    """One running vault: its state, counters, limits and listener."""

    spec: VaultSpec
    store: VaultStore
    throttle: Throttle | None
    faults: FaultSchedule
    stats: Stats = field(default_factory=Stats)
    down: DownMode | None = None
    port: int = 0
    listener: asyncio.AbstractServer | None = None
    server: web.Server | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}/"

    def info(self, ca_cert: Path) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "ca_cert": str(ca_cert),
            "geography": self.spec.geography,
        }


def find_vault(vaults: Mapping[str, Vault], name: str) -> Vault:
    """The vault named ``name``; KeyError naming it otherwise (the admin API echoes it)."""
    try:
        return vaults[name]
    except KeyError:
        raise KeyError(f"no vault named {name!r}") from None
