"""The configuration schema: frozen dataclasses, the policy enums and the service limits.

A :class:`Config` is built only by the loaders in :mod:`kvdr.config.loading` (``kvdr.toml``,
the ``KVDR_*`` app settings, or a dict such as :meth:`Config.to_dict` returns), which validate
every value; nothing here reads a file or the environment. The list of settings, their defaults
and their documentation live in :mod:`kvdr.config.settings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from kvdr.config.durations import format_duration
from kvdr.config.endpoints import is_loopback_url, sdk_client_kwargs

FINGERPRINT_KEY_SETTING = "KVDR_FINGERPRINT_KEY"
MIN_FINGERPRINT_KEY_LENGTH = 32

# Service limits per vault per region per 10 s (see DESIGN.md, platform facts).
SERVICE_WRITES_PER_10S = 300
SERVICE_OTHER_OPS_PER_10S = 4000
SERVICE_KEY_CREATES_PER_10S = 20
# Writes kept free in every 10 s window for requests the network delays across a window edge.
WRITE_WINDOW_MARGIN = 5

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# A Key Vault's ARM resource ID; the loaders validate against it, Region reads its parts.
VAULT_RESOURCE_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>[-\w._()]{{1,90}})"
    r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[A-Za-z0-9-]{3,24})$",
    re.IGNORECASE)


class DeletionPolicy(StrEnum):
    IGNORE = "ignore"
    MIRROR = "mirror"


class KeyPolicy(StrEnum):
    BACKUP_RESTORE = "backup-restore"
    REPORT = "report"


class ConflictPolicy(StrEnum):
    REPORT = "report"
    PRIMARY_WINS = "primary-wins"


class SoftDeletedTargetPolicy(StrEnum):
    RECOVER = "recover"
    REPORT = "report"


class ApprovalPolicy(StrEnum):
    REQUIRED = "required"
    AUTO = "auto"


@dataclass(frozen=True)
class Region:
    name: str
    vault_url: str
    resource_id: str
    geography: str

    @property
    def subscription_id(self) -> str:
        return VAULT_RESOURCE_ID.match(self.resource_id)["sub"].lower()  # type: ignore[index]

    @property
    def resource_group(self) -> str:
        return VAULT_RESOURCE_ID.match(self.resource_id)["rg"]  # type: ignore[index]

    @property
    def vault_name(self) -> str:
        return VAULT_RESOURCE_ID.match(self.resource_id)["vault"]  # type: ignore[index]

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.vault_url)

    def to_dict(self) -> dict[str, Any]:
        return {"vault_url": self.vault_url, "resource_id": self.resource_id,
                "geography": self.geography}


@dataclass(frozen=True)
class Topology:
    initial_primary: str
    local_region: str | None = None


@dataclass(frozen=True)
class Policies:
    deletions: DeletionPolicy = DeletionPolicy.IGNORE
    # A week: long enough to notice and undo an accidental deletion in the primary before it
    # reaches the other regions, short enough that stale copies do not linger for months.
    deletion_grace_period: timedelta = timedelta(days=7)
    # Breaker: a run that would delete more than 10 items or more than 5% of the target deletes
    # nothing. A mass deletion is far more often an accident (or a half-listed inventory) than
    # an intent, and the cost of a blocked run is one operator decision.
    deletion_breaker_max_items: int = 10
    deletion_breaker_max_percent: float = 5.0
    keys: KeyPolicy = KeyPolicy.BACKUP_RESTORE
    conflicts: ConflictPolicy = ConflictPolicy.REPORT
    soft_deleted_target: SoftDeletedTargetPolicy = SoftDeletedTargetPolicy.RECOVER
    approval: ApprovalPolicy = ApprovalPolicy.REQUIRED

    def to_dict(self) -> dict[str, Any]:
        return {
            "deletions": str(self.deletions),
            "deletion_grace_period": format_duration(self.deletion_grace_period),
            "deletion_breaker_max_items": self.deletion_breaker_max_items,
            "deletion_breaker_max_percent": self.deletion_breaker_max_percent,
            "keys": str(self.keys),
            "conflicts": str(self.conflicts),
            "soft_deleted_target": str(self.soft_deleted_target),
            "approval": str(self.approval),
        }


@dataclass(frozen=True)
class Pacing:
    # 290 creates/10 s (29/s, 96.7% of the service's 30/s). The write bucket's burst is capped
    # (see write_burst) so that no 10 s window admits more than 295: 5 below the service's 300
    # for requests the network delays into the next window — a 429 pauses the vault for up to
    # 10 s, which costs far more than the margin. (270 with a 10% burst capped at 90%.)
    writes_per_10s: int = 290
    # Half of the 4,000 "other operations" limit: applications read the same vault, and their
    # reads must never be throttled because a sync is running.
    reads_per_10s: int = 2000
    # Half of the 20 software-key creates per 10 s (restores are paced here too).
    key_creates_per_10s: int = 10
    # Batch activities in flight per sync; each paces itself per vault, so this bounds bursts
    # across function instances (which do not share token buckets).
    max_parallel: int = 4
    # Items per batch activity: ~50 descriptors stay far below the ~45 KB Durable payload limit
    # even with 15 tags each, and 50 writes take a few seconds at the default rate.
    batch_size: int = 50

    @property
    def write_burst(self) -> int:
        """Tokens the write bucket may save up: a tenth of the rate, but never so many that a
        10 s window could admit more than the service limit less ``WRITE_WINDOW_MARGIN``."""
        room = SERVICE_WRITES_PER_10S - WRITE_WINDOW_MARGIN - self.writes_per_10s
        return max(1, min(self.writes_per_10s // 10, room))

    def to_dict(self) -> dict[str, Any]:
        return {"writes_per_10s": self.writes_per_10s, "reads_per_10s": self.reads_per_10s,
                "key_creates_per_10s": self.key_creates_per_10s,
                "max_parallel": self.max_parallel, "batch_size": self.batch_size}


@dataclass(frozen=True)
class Objectives:
    rpo_seconds: int = 3600   # the hourly full sync is the backstop, so an hour is honest
    rto_seconds: int = 900    # a failover is minutes of API calls plus an approval

    def to_dict(self) -> dict[str, Any]:
        return {"rpo_seconds": self.rpo_seconds, "rto_seconds": self.rto_seconds}


@dataclass(frozen=True)
class Schedules:
    full_sync: str = "0 0 * * * *"      # every hour on the hour (UTC)
    drill: str = "0 0 4 1 * *"          # 04:00 UTC on the 1st of each month

    def to_dict(self) -> dict[str, Any]:
        return {"full_sync": self.full_sync, "drill": self.drill}


@dataclass(frozen=True)
class Rotation:
    """Where "rotation due" messages go (kvdr.rotation): a queue name (None: publishing off) and
    the *name* of the connection the environment holds (never the connection string itself)."""

    queue: str | None = None
    connection: str = "KvdrEventsQueue"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"connection": self.connection}
        if self.queue:
            data["queue"] = self.queue
        return data


@dataclass(frozen=True)
class Tls:
    ca_bundle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ca_bundle": self.ca_bundle} if self.ca_bundle else {}


@dataclass(frozen=True)
class Config:
    regions: tuple[Region, ...]
    topology: Topology
    policies: Policies = field(default_factory=Policies)
    pacing: Pacing = field(default_factory=Pacing)
    objectives: Objectives = field(default_factory=Objectives)
    schedules: Schedules = field(default_factory=Schedules)
    tls: Tls = field(default_factory=Tls)
    task_hub: str = "kvdr"
    rotation: Rotation = field(default_factory=Rotation)
    # The *name* of the setting holding the fingerprint key; the key itself is never held here
    # (a Config may be logged or passed to an orchestration).
    fingerprint_key_setting: str = FINGERPRINT_KEY_SETTING

    def region(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"no region named {name!r}; configured: "
                       f"{', '.join(r.name for r in self.regions)}")

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    def others(self, name: str) -> tuple[Region, ...]:
        """Every region but ``name`` (the replication targets when ``name`` is primary)."""
        self.region(name)
        return tuple(r for r in self.regions if r.name != name)

    def same_subscription(self, a: str, b: str) -> bool:
        return self.region(a).subscription_id == self.region(b).subscription_id

    def same_geography(self, a: str, b: str) -> bool:
        return self.region(a).geography == self.region(b).geography

    def client_kwargs(self, name: str) -> dict[str, Any]:
        """Extra SDK client arguments for a region's vault (TLS/challenge relaxations only for
        loopback URLs, see :func:`kvdr.config.endpoints.sdk_client_kwargs`)."""
        return sdk_client_kwargs(self.region(name).vault_url, self.tls.ca_bundle)

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict; :func:`kvdr.config.loading.load_dict` validates it again
        (without file checks)."""
        topology: dict[str, Any] = {"initial_primary": self.topology.initial_primary}
        if self.topology.local_region:
            topology["local_region"] = self.topology.local_region
        data: dict[str, Any] = {
            "task_hub": self.task_hub,
            "regions": {r.name: r.to_dict() for r in self.regions},
            "topology": topology,
            "policies": self.policies.to_dict(),
            "pacing": self.pacing.to_dict(),
            "objectives": self.objectives.to_dict(),
            "schedules": self.schedules.to_dict(),
        }
        if self.tls.ca_bundle:
            data["tls"] = self.tls.to_dict()
        if self.rotation != Rotation():
            data["rotation"] = self.rotation.to_dict()
        return data
