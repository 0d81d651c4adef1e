"""Which vault URLs kvdr accepts, and which of them may relax TLS / challenge checks.

Only loopback URLs (``127.0.0.0/8``, ``localhost``, ``::1``) — the local emulator — may use a
private CA bundle and skip the SDK's challenge-resource check (the check wants the vault host to
be a subdomain of the token resource, which ``127.0.0.1`` cannot be). Every other URL must be a
Key Vault data-plane host in a public or sovereign cloud, verified the normal way.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

# The one place that names cloud DNS suffixes (a test keeps it so). In Azure the URLs come from
# configuration, built by the template from environment().suffixes (KVDR_REGIONS' vault_url,
# AzureWebJobsStorage__blobServiceUri); these are the defaults and the hosts kvdr accepts.
# Key Vault: public, China (21Vianet), US Government (Germany's cloud closed in 2021).
VAULT_DNS_SUFFIXES: tuple[str, ...] = (
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
)
# Storage: the public cloud's suffix, used only when no blob service URL is configured.
DEFAULT_STORAGE_SUFFIX = "core.windows.net"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True only for https?://<loopback host>[:port]/… URLs."""
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def vault_name_from_host(host: str) -> str | None:
    """``kv-east.vault.azure.net`` -> ``kv-east``; None for hosts outside the Key Vault suffixes
    or with more than one label before the suffix."""
    host = host.lower()
    for suffix in VAULT_DNS_SUFFIXES:
        if host.endswith(suffix):
            label = host[: -len(suffix)]
            return label if label and "." not in label else None
    return None


def normalize_vault_url(url: str) -> str:
    """Check a vault URL and return it as ``https://host[:port]/``; raise ValueError saying what
    is wrong and what a valid URL looks like."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("expected a vault URL such as 'https://kv-east.vault.azure.net/'")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() != "https":
        raise ValueError(f"{url!r} must use https (Key Vault and the emulator serve only TLS)")
    host = parts.hostname
    if not host:
        raise ValueError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise ValueError(f"{url!r} must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"{url!r} must be the vault root (no path, query or fragment), "
            "e.g. 'https://kv-east.vault.azure.net/'")
    if is_loopback_host(host):
        netloc = f"[{host}]" if ":" in host else host
        return f"https://{netloc}{f':{port}' if port else ''}/"
    if vault_name_from_host(host) is None:
        raise ValueError(
            f"{url!r}: host {host!r} is not a Key Vault host; expected '<vault>"
            f"{VAULT_DNS_SUFFIXES[0]}' (or {', '.join(VAULT_DNS_SUFFIXES[1:])} in sovereign "
            "clouds), or a loopback address for the local emulator")
    if port not in (None, 443):
        raise ValueError(f"{url!r}: Key Vault listens on port 443 only")
    return f"https://{host.lower()}/"


def blob_service_url(account: str, storage_suffix: str = DEFAULT_STORAGE_SUFFIX) -> str:
    """``https://{account}.blob.{suffix}``: the blob endpoint of a storage account by name."""
    return f"https://{account}.blob.{storage_suffix}"


def sdk_client_kwargs(vault_url: str, ca_bundle: str | None) -> dict[str, Any]:
    """Extra keyword arguments for a Key Vault SDK client of ``vault_url``.

    Loopback URLs get ``verify_challenge_resource=False`` and, when configured,
    ``connection_verify=<ca_bundle>``; any other URL gets nothing (full verification)."""
    if not is_loopback_url(vault_url):
        return {}
    kwargs: dict[str, Any] = {"verify_challenge_resource": False}
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return kwargs
