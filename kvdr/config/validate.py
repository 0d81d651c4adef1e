"""The validation every loader shares: a TOML-shaped document (``kvdr.toml``, the app settings
gathered into the same shape, or :meth:`Config.to_dict`) checked key by key and built into a
:class:`~kvdr.config.schema.Config`. Every problem is a :class:`~kvdr.errors.ConfigError`
naming the setting as the user wrote it (a :class:`Labels` turns the dotted key into the TOML
key or the app setting name). The only I/O is checking that a CA bundle file exists.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from kvdr.config.durations import parse_duration
from kvdr.config.endpoints import is_loopback_url, normalize_vault_url
from kvdr.config.endpoints import vault_name_from_host as _vault_name_from_host
from kvdr.config.ncrontab import validate_ncrontab
from kvdr.config.schema import (
    SERVICE_KEY_CREATES_PER_10S,
    SERVICE_OTHER_OPS_PER_10S,
    SERVICE_WRITES_PER_10S,
    VAULT_RESOURCE_ID,
    ApprovalPolicy,
    Config,
    ConflictPolicy,
    DeletionPolicy,
    KeyPolicy,
    Objectives,
    Pacing,
    Policies,
    Region,
    Rotation,
    Schedules,
    SoftDeletedTargetPolicy,
    Tls,
    Topology,
)
from kvdr.config.settings import SETTINGS_BY_TOML_KEY
from kvdr.errors import ConfigError

_REGION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_GEOGRAPHY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TASK_HUB = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
# --- validation ---------------------------------------------------------------------------------

_T = TypeVar("_T")

TOML_SECTIONS = {
    "policies": ("deletions", "deletion_grace_period", "deletion_breaker_max_items",
                 "deletion_breaker_max_percent", "keys", "conflicts", "soft_deleted_target",
                 "approval"),
    "pacing": ("writes_per_10s", "reads_per_10s", "key_creates_per_10s", "max_parallel",
               "batch_size"),
    "objectives": ("rpo_seconds", "rto_seconds"),
    "schedules": ("full_sync", "drill"),
    "topology": ("initial_primary", "local_region"),
    "tls": ("ca_bundle",),
    "rotation": ("queue", "connection"),
}
_TOP_LEVEL = ("task_hub", "regions", *TOML_SECTIONS)
_REGION_KEYS = ("vault_url", "resource_id", "geography")


class Labels:
    """Turns an internal dotted key into the name the user wrote (TOML form by default)."""

    def __call__(self, key: str) -> str:
        return key


class AppSettingLabels(Labels):
    def __call__(self, key: str) -> str:
        if key == "regions" or key.startswith("regions."):
            return "KVDR_REGIONS" + key[len("regions"):]
        spec = SETTINGS_BY_TOML_KEY.get(key)
        return spec.name if spec else key


def suggest(word: str, choices: Mapping[str, Any] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str,
                label: Labels) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(label(where), f"unknown key{suggest(key, allowed)} (allowed here: "
                              f"{', '.join(allowed)})", code="config.unknown")


def _table(document: Mapping[str, Any], key: str, label: Labels) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(label(key), f"expected a table ([{key}]) of settings")
    return value


def validate_document(document: Mapping[str, Any], *, base_dir: Path | None, check_files: bool,
                      label: Labels | None = None) -> Config:
    """Check every key and value of a TOML-shaped ``document`` and build the :class:`Config`.
    Relative ``tls.ca_bundle`` paths resolve against ``base_dir``; ``check_files`` checks that
    the bundle exists."""
    label = label or Labels()
    _check_keys(document, _TOP_LEVEL, "", label)
    for section, keys in TOML_SECTIONS.items():
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
        rotation=_rotation(_table(document, "rotation", label), label),
    )


def _build_section(data: Mapping[str, Any], section: str,
                   builder: Callable[[Mapping[str, Any], Labels], _T],
                   label: Labels | None = None) -> _T:
    label = label or Labels()
    _check_keys(data, TOML_SECTIONS[section], section, label)
    return builder(data, label)


def validate_policies(data: Mapping[str, Any]) -> Policies:
    """A ``[policies]`` table (as :meth:`Policies.to_dict` writes it), checked and built."""
    return _build_section(data, "policies", _policies)


def validate_pacing(data: Mapping[str, Any]) -> Pacing:
    """A ``[pacing]`` table (as :meth:`Pacing.to_dict` writes it), checked and built."""
    return _build_section(data, "pacing", _pacing)


def _regions(raw: Any, label: Labels) -> tuple[Region, ...]:
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
        match = VAULT_RESOURCE_ID.match(resource_id)
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


def _region_ref(value: Any, names: tuple[str, ...], key: str, label: Labels) -> str:
    text = _str(value, key, label).strip()
    if text not in names:
        raise ConfigError(label(key), f"{text!r} is not a configured region; choose one of "
                          f"{', '.join(names)}{suggest(text, names)}")
    return text


def _tls(data: Mapping[str, Any], regions: tuple[Region, ...], base_dir: Path | None,
         check_files: bool, label: Labels) -> Tls:
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


def _policies(data: Mapping[str, Any], label: Labels) -> Policies:
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


def _pacing(data: Mapping[str, Any], label: Labels) -> Pacing:
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


def _objectives(data: Mapping[str, Any], label: Labels) -> Objectives:
    d = Objectives()
    return Objectives(
        rpo_seconds=_int(data, "objectives.rpo_seconds", d.rpo_seconds, 1, None, label),
        rto_seconds=_int(data, "objectives.rto_seconds", d.rto_seconds, 1, None, label))


def _schedules(data: Mapping[str, Any], label: Labels) -> Schedules:
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


_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_CONNECTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def _rotation(data: Mapping[str, Any], label: Labels) -> Rotation:
    queue = data.get("queue")
    if queue is not None:
        queue = _str(queue, "rotation.queue", label).strip() or None
    if queue is not None and not _QUEUE_NAME.match(queue):
        raise ConfigError(label("rotation.queue"), f"{queue!r} is not a storage queue name; "
                          "use 3-63 lowercase letters, digits and single hyphens (e.g. "
                          "'kvdr-rotation')")
    connection = _str(data.get("connection", Rotation.connection), "rotation.connection",
                      label).strip()
    if not _CONNECTION_NAME.match(connection) or connection.upper().startswith("KVDR_"):
        raise ConfigError(label("rotation.connection"), f"{connection!r} is not a connection "
                          "name; use letters, digits and underscores starting with a letter, "
                          "not KVDR_* (e.g. 'KvdrEventsQueue')")
    return Rotation(queue=queue, connection=connection)


# --- scalar readers: accept native TOML types and the strings app settings carry ---------------


def _str(value: Any, key: str, label: Labels) -> str:
    if not isinstance(value, str):
        raise ConfigError(label(key), f"expected a string, got {type(value).__name__}")
    return value


def _enum(data: Mapping[str, Any], key: str, enum: type[StrEnum], default: Any,
          label: Labels) -> Any:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    text = _str(data[short], key, label).strip().lower()
    try:
        return enum(text)
    except ValueError:
        allowed = [str(m) for m in enum]
        raise ConfigError(label(key), f"{text!r} is not allowed; choose one of "
                          f"{', '.join(allowed)}{suggest(text, tuple(allowed))}") from None


def _duration(data: Mapping[str, Any], key: str, default: timedelta,
              label: Labels) -> timedelta:
    short = key.rpartition(".")[2]
    if short not in data:
        return default
    try:
        return parse_duration(data[short])
    except ValueError as exc:
        raise ConfigError(label(key), str(exc)) from None


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int | None,
         label: Labels, why: str = "") -> int:
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


def _percent(data: Mapping[str, Any], key: str, default: float, label: Labels) -> float:
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
