"""The credential check's token scope: the one Key Vault's challenge names for each cloud."""

from __future__ import annotations

import pytest

from kvdr.vault.credentials import vault_scope


@pytest.mark.parametrize(("url", "scope"), [
    ("https://kv-east.vault.azure.net/", "https://vault.azure.net/.default"),
    ("https://kv-cn.vault.azure.cn", "https://vault.azure.cn/.default"),
    ("https://kv-gov.vault.usgovcloudapi.net/", "https://vault.usgovcloudapi.net/.default"),
    ("https://hsm.managedhsm.azure.net/", "https://managedhsm.azure.net/.default"),
])
def test_the_scope_is_the_vaults_dns_suffix(url: str, scope: str) -> None:
    assert vault_scope(url) == scope

