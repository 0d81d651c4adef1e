"""Sovereign clouds: the Key Vault and Storage DNS suffixes come from configuration (the URLs the
template passes), with the public-cloud defaults and the known clouds kept in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvdr.config.endpoints import normalize_vault_url
from kvdr.state.blob import BlobStateStore

ROOT = Path(__file__).resolve().parents[3]
CODE_FOLDERS = ("kvdr", "triggers", "activities", "orchestrators")
# the one place that holds the defaults, and the settings reference's example values
ALLOWED = {Path("kvdr/config/endpoints.py"), Path("kvdr/config/settings.py")}
SUFFIX = re.compile(
    r"core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net"
    r"|vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|vault\.microsoftazure\.de",
    re.IGNORECASE,
)


class StaticCredential:
    def get_token(self, *scopes, **kwargs):  # never called: no request is made
        raise AssertionError("unexpected token request")


def test_no_cloud_dns_suffix_is_hard_coded_outside_the_defaults_in_kvdr_endpoints() -> None:
    files = [ROOT / "function_app.py"]
    files += [p for folder in CODE_FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 10
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        if path.relative_to(ROOT) not in ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SUFFIX.search(line)
    ]
    assert found == [], "take DNS suffixes from kvdr.config.endpoints or from configuration"


@pytest.mark.parametrize(
    "url",
    [
        "https://kv-east.vault.azure.net/",
        "https://kv-east.vault.azure.cn/",
        "https://kv-east.vault.usgovcloudapi.net/",
    ],
)
def test_vault_urls_of_the_public_and_sovereign_clouds_are_accepted(url: str) -> None:
    assert normalize_vault_url(url) == url


def test_vault_urls_of_the_closed_german_cloud_are_refused() -> None:
    # Microsoft Cloud Deutschland closed on 29 October 2021: no vault lives there any more
    with pytest.raises(ValueError, match="not a Key Vault host"):
        normalize_vault_url("https://kv.vault.microsoftazure.de/")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://stkvdrcn.blob.core.chinacloudapi.cn/",
        "https://stkvdrgov.blob.core.usgovcloudapi.net/",
    ],
)
def test_the_state_store_uses_the_blob_endpoint_a_sovereign_template_passes(
    endpoint: str,
) -> None:
    store = BlobStateStore.from_settings(
        {
            "AzureWebJobsStorage__blobServiceUri": endpoint,
            "AzureWebJobsStorage__accountName": "ignoredwhenuriisset",
            "AzureWebJobsStorage__credential": "managedidentity",
        },
        credential=StaticCredential(),
    )
    assert store.container.url == f"{endpoint}kvdr-state"


@pytest.mark.parametrize("service", ["blob", "queue", "table"])
def test_the_template_passes_each_runtime_storage_endpoint_the_cloud_reports(service: str) -> None:
    # The host and the Durable provider build *.core.windows.net URLs from accountName alone;
    # the explicit service URIs (the cloud's own endpoints) win over it.
    bicep = (ROOT / "infra/bicep/modules/functionApp.bicep").read_text(encoding="utf-8")
    assert re.search(
        rf"^\s*AzureWebJobsStorage__{service}ServiceUri:\s*"
        rf"storage\.properties\.primaryEndpoints\.{service}\s*$",
        bicep,
        re.MULTILINE,
    )
