"""Configuration samples: a valid kvdr.toml, Key Vault resource ids, a valid app-settings map
and a fixed "now". The fixtures are registered for every folder in tests/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def resource_id(vault: str, sub: str = SUB) -> str:
    return (f"/subscriptions/{sub}/resourceGroups/rg-kvdr/providers/Microsoft.KeyVault/"
            f"vaults/{vault}")


VALID_TOML = f"""
[regions.eastus]
vault_url = "https://127.0.0.1:8443/"
resource_id = "{resource_id('kv-east')}"
geography = "us"

[regions.westus]
vault_url = "https://127.0.0.1:8444/"
resource_id = "{resource_id('kv-west')}"
geography = "us"

[topology]
initial_primary = "eastus"
"""


@pytest.fixture
def valid_toml() -> str:
    return VALID_TOML


@pytest.fixture(name="resource_id")
def resource_id_fixture() -> Callable[..., str]:
    """``resource_id(vault, sub=SUB)`` -> a Key Vault resource ID."""
    return resource_id


@pytest.fixture
def other_sub() -> str:
    return OTHER_SUB


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[..., str]:
    """Write a kvdr.toml (VALID_TOML plus ``extra``) and return its path."""
    def write(text: str = VALID_TOML, extra: str = "") -> str:
        path = tmp_path / "kvdr.toml"
        path.write_text(text + "\n" + extra)
        return str(path)
    return write


@pytest.fixture
def app_settings() -> dict[str, str]:
    regions = {
        "eastus": {"vault_url": "https://kv-east.vault.azure.net/",
                   "resource_id": resource_id("kv-east"), "geography": "us"},
        "westus": {"vault_url": "https://kv-west.vault.azure.net/",
                   "resource_id": resource_id("kv-west"), "geography": "us"},
    }
    return {
        "KVDR_REGIONS": json.dumps(regions),
        "KVDR_INITIAL_PRIMARY": "eastus",
        "KVDR_LOCAL_REGION": "westus",
        "KVDR_TASK_HUB": "kvdr",
        "KVDR_FINGERPRINT_KEY": "k" * 40,
        "KVDR_FULL_SYNC_SCHEDULE": "0 0 * * * *",
        "KVDR_DRILL_SCHEDULE": "0 0 4 1 * *",
        "WEBSITE_SITE_NAME": "unrelated settings are ignored",
    }
