"""The configuration schema (frozen dataclasses) and its two loaders.

``load_toml(path)`` reads ``kvdr.toml`` on an operator's machine; ``load_app_settings(env)``
reads the ``KVDR_*`` app settings in Azure. Both feed the same validation, and every problem is
a :class:`~kvdr.errors.ConfigError` naming the setting as the user wrote it (the TOML dotted key
or the app setting name). Nothing here reads the environment by itself or touches the network;
the only I/O is reading the TOML file and checking that a CA bundle file exists.

The list of settings, their defaults and their documentation live in :mod:`kvdr.config.settings`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from kvdr.config.durations import format_duration, parse_duration
from kvdr.config.ncrontab import validate_ncrontab
from kvdr.config.settings import CLI_VARIABLES, SETTINGS, SETTINGS_BY_NAME, SETTINGS_BY_TOML_KEY
from kvdr.errors import ConfigError
from kvdr.vault.endpoints import is_loopback_url, normalize_vault_url, sdk_client_kwargs
from kvdr.vault.endpoints import vault_name_from_host as _vault_name_from_host

APP_SETTING_PREFIX = "KVDR_"
FINGERPRINT_KEY_SETTING = "KVDR_FINGERPRINT_KEY"
MIN_FINGERPRINT_KEY_LENGTH = 32

# Service limits per vault per region per 10 s (see DESIGN.md, platform facts).
SERVICE_WRITES_PER_10S = 300
SERVICE_OTHER_OPS_PER_10S = 4000
SERVICE_KEY_CREATES_PER_10S = 20
# Writes kept free in every 10 s window for requests the network delays across a window edge.
WRITE_WINDOW_MARGIN = 5

_REGION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_GEOGRAPHY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TASK_HUB = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>[-\w._()]{{1,90}})"
    r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[A-Za-z0-9-]{3,24})$",
    re.IGNORECASE)
_VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")


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
        return _RESOURCE_ID.match(self.resource_id)["sub"].lower()  # type: ignore[index]

    @property
    def resource_group(self) -> str:
        return _RESOURCE_ID.match(self.resource_id)["rg"]  # type: ignore[index]

    @property
    def vault_name(self) -> str:
        return _RESOURCE_ID.match(self.resource_id)["vault"]  # type: ignore[index]

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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policies:
        return _build_section(data, "policies", _policies)


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pacing:
        return _build_section(data, "pacing", _pacing)


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
        loopback URLs, see :func:`kvdr.vault.endpoints.sdk_client_kwargs`)."""
        return sdk_client_kwargs(self.region(name).vault_url, self.tls.ca_bundle)

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict; :meth:`from_dict` validates it again (without file checks)."""
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
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        return _from_document(data, base_dir=None, check_files=False)


# --- loaders ------------------------------------------------------------------------------------


def load_toml(path: str | os.PathLike[str]) -> Config:
    """Read and validate ``kvdr.toml``. Relative ``tls.ca_bundle`` paths are resolved against
    the file's folder."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(file), "configuration file not found; create it or pass --config "
                          "with the right path", code="config.missing") from None
    except IsADirectoryError:
        raise ConfigError(str(file), "is a directory, not a configuration file; pass --config "
                          "with the path of the kvdr.toml itself") from None
    except OSError as exc:  # permissions, a device, an I/O error: say which, never a traceback
        raise ConfigError(str(file), f"cannot be read ({exc.strerror or type(exc).__name__}); "
                          "check the path and its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition: point at the bad byte
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(str(file), f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                          "save the file as UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), f"not valid TOML ({exc})") from None
    return _from_document(document, base_dir=file.resolve().parent, check_files=True)


def load_app_settings(env: Mapping[str, str], *, strict: bool = True) -> Config:
    """Read and validate the ``KVDR_*`` app settings from ``env`` (pass ``os.environ`` in
    Azure). Empty values count as unset. With ``strict`` (the default) an unknown ``KVDR_*``
    name is an error, so a misspelt setting never silently falls back to its default."""
    values = {k: v for k, v in env.items()
              if k.startswith(APP_SETTING_PREFIX) and isinstance(v, str) and v.strip()}
    if strict:
        for name in sorted(values):
            if name not in SETTINGS_BY_NAME and name not in CLI_VARIABLES:
                raise ConfigError(name, "unknown kvdr setting" + _suggest(name, SETTINGS_BY_NAME)
                                  + "; remove it or fix its name", code="config.unknown")
    for spec in SETTINGS:
        if spec.required and spec.name not in values:
            raise ConfigError(spec.name, f"required app setting is missing ({spec.description})",
                              code="config.missing")

    key = values[FINGERPRINT_KEY_SETTING]
    if len(key) < MIN_FINGERPRINT_KEY_LENGTH:
        raise ConfigError(FINGERPRINT_KEY_SETTING,
                          f"must be at least {MIN_FINGERPRINT_KEY_LENGTH} characters; generate a "
                          "random value (e.g. `openssl rand -hex 32`)")

    regions_text = values["KVDR_REGIONS"]
    try:
        regions = json.loads(regions_text)
    except json.JSONDecodeError as exc:
        raise ConfigError("KVDR_REGIONS", f"not valid JSON ({exc.msg} at position {exc.pos}); "
                          'expected {"eastus": {"vault_url": …, "resource_id": …, '
                          '"geography": …}, …}') from None

    document: dict[str, Any] = {"regions": regions}
    for spec in SETTINGS:
        if spec.name == "KVDR_REGIONS" or not spec.toml_key or spec.name not in values:
            continue
        section, _, key_name = spec.toml_key.rpartition(".")
        target = document.setdefault(section, {}) if section else document
        target[key_name] = values[spec.name]
    return _from_document(document, base_dir=None, check_files=True, label=_AppSettingLabels())


# --- validation ---------------------------------------------------------------------------------

_T = TypeVar("_T")

_TOML_SECTIONS = {
    "policies": ("deletions", "deletion_grace_period", "deletion_breaker_max_items",
                 "deletion_breaker_max_percent", "keys", "conflicts", "soft_deleted_target",
                 "approval"),
    "pacing": ("writes_per_10s", "reads_per_10s", "key_creates_per_10s", "max_parallel",
               "batch_size"),
    "objectives": ("rpo_seconds", "rto_seconds"),
    "schedules": ("full_sync", "drill"),
    "topology": ("initial_primary", "local_region"),
    "tls": ("ca_bundle",),
}
_TOP_LEVEL = ("task_hub", "regions", *_TOML_SECTIONS)
_REGION_KEYS = ("vault_url", "resource_id", "geography")


class _Labels:
    """Turns an internal dotted key into the name the user wrote (TOML form by default)."""

    def __call__(self, key: str) -> str:
        return key


class _AppSettingLabels(_Labels):
    def __call__(self, key: str) -> str:
        if key == "regions" or key.startswith("regions."):
            return "KVDR_REGIONS" + key[len("regions"):]
        spec = SETTINGS_BY_TOML_KEY.get(key)
        return spec.name if spec else key


def _suggest(word: str, choices: Mapping[str, Any] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str,
                label: _Labels) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(label(where), f"unknown key{_suggest(key, allowed)} (allowed here: "
                              f"{', '.join(allowed)})", code="config.unknown")


def _table(document: Mapping[str, Any], key: str, label: _Labels) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(label(key), f"expected a table ([{key}]) of settings")
    return value


def _from_document(document: Mapping[str, Any], *, base_dir: Path | None, check_files: bool,
                   label: _Labels | None = None) -> Config:
    label = label or _Labels()
    _check_keys(document, _TOP_LEVEL, "", label)
    for section, keys in _TOML_SECTIONS.items():
        _check_keys(_table(document, section, label), keys, section, label)

    regions = _regions(document.get("regions"), label)
    names = tuple(r.name for r in regions)

    topo = _table(document, "topology", label)
    if "initial_primary" not in topo:
        raise ConfigError(label("topology.initial_primary"),
                          f"required; name the region that starts as primary (one of "
                          f"{', '.join(names)})", code="config.missing")
    initial = _region_ref(topo["initial_primary"], names, "topology.initial_primary", label)
    local = (None if topo.get("local_region") is None
             else _region_ref(topo["local_region"], names, "topology.local_region", label))

    task_hub = _str(document.get("task_hub", Config.task_hub), "task_hub", label)
    if not _TASK_HUB.match(task_hub):
        raise ConfigError(label("task_hub"), f"{task_hub!r} is not a valid task hub name; use "
                          "3-45 letters and digits starting with a letter")

    tls = _tls(_table(document, "tls", label), regions, base_dir, check_files, label)
    return Config(
        regions=regions,
        topology=Topology(initial_primary=initial, local_region=local),
        policies=_build_section(_table(document, "policies", label), "policies", _policies,
                                label),
        pacing=_build_section(_table(document, "pacing", label), "pacing", _pacing, label),
        objectives=_objectives(_table(document, "objectives", label), label),
        schedules=_schedules(_table(document, "schedules", label), label),
        tls=tls,
        task_hub=task_hub,
    )


def _build_section(data: Mapping[str, Any], section: str,
                   builder: Callable[[Mapping[str, Any], _Labels], _T],
                   label: _Labels | None = None) -> _T:
    label = label or _Labels()
    _check_keys(data, _TOML_SECTIONS[section], section, label)
    return builder(data, label)


def _regions(raw: Any, label: _Labels) -> tuple[Region, ...]:
    if raw is None:
        raise ConfigError(label("regions"), "required; define at least two regions, e.g. "
                          "[regions.eastus] with vault_url, resource_id and geography",
                          code="config.missing")
    if not isinstance(raw, Mapping):
        raise ConfigError(label("regions"), "expected a table/object of regions keyed by name")
    if len(raw) < 2:
        raise ConfigError(label("regions"), f"at least two regions are needed (found "
                          f"{len(raw)}: {', '.join(raw) or 'none'}); kvdr replicates between "
                          "regional vaults")
    regions: list[Region] = []
    seen_urls: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for name in sorted(raw):
        entry = raw[name]
        where = f"regions.{name}"
        if not _REGION_NAME.match(name):
            raise ConfigError(label(where), "region names must be lowercase letters, digits "
                              "and hyphens (e.g. 'eastus'), at most 63 characters")
        if not isinstance(entry, Mapping):
            raise ConfigError(label(where), "expected a table with vault_url, resource_id and "
                              "geography")
        _check_keys(entry, _REGION_KEYS, where, label)
        for key in _REGION_KEYS:
            if key not in entry:
                raise ConfigError(label(f"{where}.{key}"), "required", code="config.missing")
        url_label = label(f"{where}.vault_url")
        try:
            url = normalize_vault_url(_str(entry["vault_url"], f"{where}.vault_url", label))
        except ValueError as exc:
            raise ConfigError(url_label, str(exc)) from None
        if url in seen_urls:
            raise ConfigError(url_label, f"{url} is already the vault of region "
                              f"{seen_urls[url]!r}; each region needs its own vault")
        seen_urls[url] = name

        rid_label = label(f"{where}.resource_id")
        resource_id = _str(entry["resource_id"], f"{where}.resource_id", label).strip()
        match = _RESOURCE_ID.match(resource_id)
        if not match:
            raise ConfigError(rid_label, f"{resource_id!r} is not a Key Vault resource ID; "
                              "expected /subscriptions/{subscription-guid}/resourceGroups/"
                              "{group}/providers/Microsoft.KeyVault/vaults/{vault-name}")
        if not _VAULT_NAME.match(match["vault"]):
            raise ConfigError(rid_label, f"vault name {match['vault']!r} is not valid (3-24 "
                              "letters, digits and single hyphens, starting with a letter)")
        if resource_id.lower() in seen_ids:
            raise ConfigError(rid_label, "the same vault resource as region "
                              f"{seen_ids[resource_id.lower()]!r}")
        seen_ids[resource_id.lower()] = name
        if not is_loopback_url(url):
            host_vault = _vault_name_from_host(url.split("/")[2])
            if host_vault != match["vault"].lower():
                raise ConfigError(rid_label, f"names vault {match['vault']!r} but vault_url "
                                  f"{url} is vault {host_vault!r}; make them the same vault")

        geography = _str(entry["geography"], f"{where}.geography", label).strip().lower()
        if not _GEOGRAPHY.match(geography):
            raise ConfigError(label(f"{where}.geography"), "expected a geography name such as "
                              "'us' or 'europe' (lowercase letters, digits, hyphens)")
        regions.append(Region(name=name, vault_url=url, resource_id=resource_id,
                              geography=geography))
    return tuple(regions)


def _region_ref(value: Any, names: tuple[str, ...], key: str, label: _Labels) -> str:
    text = _str(value, key, label).strip()
    if text not in names:
        raise ConfigError(label(key), f"{text!r} is not a configured region; choose one of "
                          f"{', '.join(names)}{_suggest(text, names)}")
    return text


def _tls(data: Mapping[str, Any], regions: tuple[Region, ...], base_dir: Path | None,
         check_files: bool, label: _Labels) -> Tls:
    raw = data.get("ca_bundle")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return Tls()
    text = _str(raw, "tls.ca_bundle", label).strip()
    remote = [r for r in regions if not r.is_loopback]
    if remote:
        raise ConfigError(label("tls.ca_bundle"), "a CA bundle is honoured only for loopback "
                          f"(emulator) vault URLs, but region {remote[0].name!r} uses "
                          f"{remote[0].vault_url}; remove the CA bundle (Azure vaults use the "
                          "system trust store)")
    path = Path(text)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if check_files and not path.is_file():
        raise ConfigError(label("tls.ca_bundle"), f"file {str(path)!r} does not exist; point "
                          "it at the emulator's CA certificate (PEM)")
    return Tls(ca_bundle=str(path))


def _policies(data: Mapping[str, Any], label: _Labels) -> Policies:
    d = Policies()
    return Policies(
        deletions=_enum(data, "policies.deletions", DeletionPolicy, d.deletions, label),
        deletion_grace_period=_duration(data, "policies.deletion_grace_period",
                                        d.deletion_grace_period, label),
        deletion_breaker_max_items=_int(data, "policies.deletion_breaker_max_items",
                                        d.deletion_breaker_max_items, 0, None, label),
        deletion_breaker_max_percent=_percent(data, "policies.deletion_breaker_max_percent",
                                              d.deletion_breaker_max_percent, label),
        keys=_enum(data, "policies.keys", KeyPolicy, d.keys, label),
        conflicts=_enum(data, "policies.conflicts", ConflictPolicy, d.conflicts, label),
        soft_deleted_target=_enum(data, "policies.soft_deleted_target",
                                  SoftDeletedTargetPolicy, d.soft_deleted_target, label),
        approval=_enum(data, "policies.approval", ApprovalPolicy, d.approval, label),
    )


def _pacing(data: Mapping[str, Any], label: _Labels) -> Pacing:
    d = Pacing()
    return Pacing(
        writes_per_10s=_int(data, "pacing.writes_per_10s", d.writes_per_10s, 1,
                            SERVICE_WRITES_PER_10S, label,
                            "the service limit is 300 creates per vault per 10 s"),
        reads_per_10s=_int(data, "pacing.reads_per_10s", d.reads_per_10s, 1,
                           SERVICE_OTHER_OPS_PER_10S, label,
                           "the service limit is 4,000 operations per vault per 10 s"),
        key_creates_per_10s=_int(data, "pacing.key_creates_per_10s", d.key_creates_per_10s, 1,
                                 SERVICE_KEY_CREATES_PER_10S, label,
                                 "the service limit is 20 key creates per vault per 10 s"),
        max_parallel=_int(data, "pacing.max_parallel", d.max_parallel, 1, 64, label),
        batch_size=_int(data, "pacing.batch_size", d.batch_size, 1, 200, label,
                        "larger batches risk the ~45 KB Durable payload limit"),
    )


def _objectives(data: Mapping[str, Any], label: _Labels) -> Objectives:
    d = Objectives()
    return Objectives(
        rpo_seconds=_int(data, "objectives.rpo_seconds", d.rpo_seconds, 1, None, label),
        rto_seconds=_int(data, "objectives.rto_seconds", d.rto_seconds, 1, None, label))


def _schedules(data: Mapping[str, Any], label: _Labels) -> Schedules:
    d = Schedules()
    out = {}
    for key, default in (("full_sync", d.full_sync), ("drill", d.drill)):
        dotted = f"schedules.{key}"
        value = _str(data.get(key, default), dotted, label)
        try:
            out[key] = validate_ncrontab(value)
        except ValueError as exc:
            raise ConfigError(label(dotted), str(exc)) from None
    return Schedules(**out)


# --- scalar readers: accept native TOML types and the strings app settings carry ---------------


def _str(value: Any, key: str, label: _Labels) -> str:
    if not isinstance(value, str):
        raise ConfigError(label(key), f"expected a string, got {type(value).__name__}")
    return value


def _enum(data: Mapping[str, Any], key: str, enum: type[StrEnum], default: Any,
          label: _Labels) -> Any:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    text = _str(data[short], key, label).strip().lower()
    try:
        return enum(text)
    except ValueError:
        allowed = [str(m) for m in enum]
        raise ConfigError(label(key), f"{text!r} is not allowed; choose one of "
                          f"{', '.join(allowed)}{_suggest(text, tuple(allowed))}") from None


def _duration(data: Mapping[str, Any], key: str, default: timedelta,
              label: _Labels) -> timedelta:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    try:
        return parse_duration(data[short])
    except ValueError as exc:
        raise ConfigError(label(key), str(exc)) from None


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int | None,
         label: _Labels, why: str = "") -> int:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    raw = data[short]
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ConfigError(label(key), f"expected a whole number, got {raw!r}")
    if isinstance(raw, str):
        if not raw.strip().isdigit():
            raise ConfigError(label(key), f"expected a whole number, got {raw!r}")
        raw = int(raw.strip())
    if raw < low or (high is not None and raw > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(label(key), f"{raw} is out of range; use a value {bounds}"
                          + (f" ({why})" if why else ""))
    return raw


def _percent(data: Mapping[str, Any], key: str, default: float, label: _Labels) -> float:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    raw = data[short]
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(label(key), f"expected a percentage such as 5 or 2.5, got {raw!r}"
                          ) from None
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ConfigError(label(key), f"{raw!r} is out of range; use a percentage greater "
                          "than 0 and at most 100")
    return value
