"""The credential kvdr uses for every vault.

In Azure (and on an operator's machine against real vaults) that is ``DefaultAzureCredential``:
managed identity in the function app, the Azure CLI / developer login locally. Against the local
emulator only — when *every* configured vault URL is a loopback address — a static local token is
used instead, because the emulator never validates tokens. The static credential refuses to hand
a token to any other URL. ``KVDR_EMULATOR_TOKEN`` names that token (default ``kvdr-local``), so a
test or a demo can give kvdr an identity the emulator's ``--roles`` file limits; it is read only
in that loopback case, so it can never stand in for an Azure credential.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

from kvdr.config.endpoints import is_loopback_url
from kvdr.config.schema import Config
from kvdr.errors import AuthError, ConfigError

LOCAL_TOKEN = "kvdr-local"
EMULATOR_TOKEN_VARIABLE = "KVDR_EMULATOR_TOKEN"
_LIFETIME_SECONDS = 3600


class LocalTokenCredential:
    """A static token for loopback (emulator) vaults. Construct it with the vault URLs it will
    serve; any non-loopback URL is refused."""

    def __init__(self, urls: tuple[str, ...] = (), token: str = LOCAL_TOKEN) -> None:
        for url in urls:
            if not is_loopback_url(url):
                raise ConfigError("regions", f"{url} is not a loopback URL; the static local "
                                  "credential serves only the emulator — use Azure credentials "
                                  "(DefaultAzureCredential) for real vaults")
        self._token = token

    def __repr__(self) -> str:
        return "LocalTokenCredential()"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + _LIFETIME_SECONDS)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + _LIFETIME_SECONDS)

    def close(self) -> None:
        pass


def credential_for(config: Config, env: Mapping[str, str] | None = None) -> TokenCredential:
    """``DefaultAzureCredential`` unless every region's vault URL is loopback (the emulator),
    then a static local token: ``KVDR_EMULATOR_TOKEN`` from ``env`` (default ``os.environ``)
    when set, else ``kvdr-local``."""
    urls = tuple(r.vault_url for r in config.regions)
    if urls and all(is_loopback_url(u) for u in urls):
        token = ((os.environ if env is None else env).get(EMULATOR_TOKEN_VARIABLE) or "").strip()
        return LocalTokenCredential(urls, token or LOCAL_TOKEN)
    from azure.identity import DefaultAzureCredential  # slow import; only when needed

    return DefaultAzureCredential()


def vault_scope(vault_url: str) -> str:
    """The token scope Key Vault's challenge names for this vault: ``https://<the vault host's
    DNS suffix>/.default`` (the public cloud, sovereign clouds and Managed HSM alike)."""
    host = urlsplit(vault_url).hostname or ""
    return f"https://{host.partition('.')[2] or host}/.default"


def auth_failure(credential: Any, exc: BaseException) -> AuthError:
    """One short sentence for a credential that could not get a token: which credentials were
    tried (from the chain itself, not by parsing the SDK's multi-line message) and what to do."""
    chain = getattr(credential, "credentials", None)
    tried = ", ".join(type(c).__name__ for c in chain) if chain else type(credential).__name__
    return AuthError(
        f"{type(credential).__name__} could not get a token for the vaults (tried {tried}; "
        f"{type(exc).__name__}). Sign in with `az login` (or `azd auth login`), set "
        "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, "
        "or run where a managed identity holds a Key Vault role; AZURE_TOKEN_CREDENTIALS=dev "
        "skips the managed identity probe on a workstation")


def check_credential(credential: TokenCredential, vault_urls: tuple[str, ...]) -> None:
    """Get one token per vault DNS suffix before any vault is called, so that missing or
    failing Azure credentials are reported as such (``auth.failed``), before any request
    leaves for a vault — not later as unreachable vaults. The static local credential (the
    emulator) needs no check."""
    if isinstance(credential, LocalTokenCredential):
        return
    from azure.core.exceptions import ClientAuthenticationError

    for scope in dict.fromkeys(vault_scope(u) for u in vault_urls):
        try:
            credential.get_token(scope)
        except ClientAuthenticationError as exc:
            raise auth_failure(credential, exc) from None
