"""The credential kvdr uses for every vault.

In Azure (and on an operator's machine against real vaults) that is ``DefaultAzureCredential``:
managed identity in the function app, the Azure CLI / developer login locally. Against the local
emulator only — when *every* configured vault URL is a loopback address — a static local token is
used instead, because the emulator never validates tokens. The static credential refuses to hand
a token to any other URL.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

from kvdr.config import Config
from kvdr.endpoints import is_loopback_url
from kvdr.errors import ConfigError

LOCAL_TOKEN = "kvdr-local"
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


def credential_for(config: Config) -> TokenCredential:
    """``DefaultAzureCredential`` unless every region's vault URL is loopback (the emulator),
    then a static local token."""
    urls = tuple(r.vault_url for r in config.regions)
    if urls and all(is_loopback_url(u) for u in urls):
        return LocalTokenCredential(urls)
    from azure.identity import DefaultAzureCredential  # slow import; only when needed

    return DefaultAzureCredential()
