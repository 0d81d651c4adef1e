"""The Azure state store: JSON blobs in the ``kvdr-state`` container of the function app's
``AzureWebJobsStorage`` account (the :class:`~kvdr.state.store.StateStore` protocol).

``update_json`` is optimistic: read with the ETag, write with ``If-Match`` (or
``If-None-Match: *`` when the blob is new), retry on 412/409. Logs keys only, never values.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from kvdr.config.endpoints import blob_service_url
from kvdr.errors import ConfigError
from kvdr.state.store import (
    StateConflictError,
    StateStore,
    decode_value,
    encode_value,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient

logger = logging.getLogger(__name__)

DEFAULT_CONTAINER = "kvdr-state"
DEFAULT_MAX_ATTEMPTS = 40

# The app settings the Functions host itself reads for its storage (identity-based or not).
SETTING_CONNECTION = "AzureWebJobsStorage"
SETTING_BLOB_URI = "AzureWebJobsStorage__blobServiceUri"
SETTING_ACCOUNT = "AzureWebJobsStorage__accountName"
SETTING_CLIENT_ID = "AzureWebJobsStorage__clientId"

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


_ensured_lock = threading.Lock()
_ensured_containers: set[str] = set()


class BlobStateStore:
    """JSON blobs in one container. Keys are blob names; values are ``application/json``.

    The container is created on first use when missing (once per process and container URL).
    The identity needs *Storage Blob Data Contributor* (or Owner) on the account."""

    def __init__(self, container_client: ContainerClient, *,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 owned_credential: Any | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.container = container_client
        self.max_attempts = max_attempts
        self._owned_credential = owned_credential

    def __repr__(self) -> str:
        return f"BlobStateStore(container_url={self.container.url!r})"

    @classmethod
    def from_settings(cls, env: Mapping[str, str], credential: TokenCredential | None = None,
                      container: str = DEFAULT_CONTAINER, *,
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                      **kwargs: Any) -> BlobStateStore:
        """The store in the function app's runtime storage account, found the way the Functions
        host finds it, in this order:

        * ``AzureWebJobsStorage__blobServiceUri`` — identity-based, an explicit endpoint;
        * ``AzureWebJobsStorage__accountName`` — identity-based, the public cloud's blob
          endpoint of that account (:func:`kvdr.config.endpoints.blob_service_url`); in other clouds
          set ``__blobServiceUri`` (the template passes the endpoint the cloud reports);
        * ``AzureWebJobsStorage`` — a connection string; ``UseDevelopmentStorage=true`` is
          Azurite's development account on ``127.0.0.1:10000``.

        Identity-based settings use ``credential`` when given, else a
        ``ManagedIdentityCredential(client_id=AzureWebJobsStorage__clientId)`` when that is set,
        else ``DefaultAzureCredential()``. Raises :class:`ConfigError` naming the setting when
        none is usable. Other keyword arguments go to the ``ContainerClient``."""
        from azure.storage.blob import ContainerClient

        if not _CONTAINER_NAME.fullmatch(container):
            raise ValueError(f"{container!r} is not a valid blob container name "
                             "(3-63 lowercase letters, digits and single hyphens)")
        uri = _setting(env, SETTING_BLOB_URI)
        account = _setting(env, SETTING_ACCOUNT)
        if uri or account:
            if uri:
                url = _check_service_uri(uri)
            else:
                if not _ACCOUNT_NAME.fullmatch(account):
                    raise ConfigError(SETTING_ACCOUNT, f"{account!r} is not a storage account "
                                      "name (3-24 lowercase letters and digits)")
                url = blob_service_url(account)
            owned = None
            if credential is None:
                credential = owned = _identity_credential(env)
            client = ContainerClient(url, container, credential=credential, **kwargs)
            logger.info("state store: container %s at %s (identity-based)", container, url)
            return cls(client, max_attempts=max_attempts, owned_credential=owned)

        conn = _setting(env, SETTING_CONNECTION)
        if not conn:
            raise ConfigError(
                SETTING_CONNECTION,
                f"no state storage is configured: set {SETTING_ACCOUNT} (identity-based, with "
                "AzureWebJobsStorage__credential=managedidentity), "
                f"{SETTING_BLOB_URI}, or a connection string in {SETTING_CONNECTION} "
                "(UseDevelopmentStorage=true for Azurite)",
                code="config.missing")
        conn = expand_dev_storage(conn)
        try:
            client = ContainerClient.from_connection_string(conn, container, **kwargs)
        except ValueError:
            # the connection string holds the account key: never echo it
            raise ConfigError(SETTING_CONNECTION, "is not a valid storage connection string "
                              "(or UseDevelopmentStorage=true)") from None
        logger.info("state store: container %s at %s (connection string)", container,
                    client.primary_endpoint.rsplit("/", 1)[0])
        return cls(client, max_attempts=max_attempts)

    # ---- StateStore --------------------------------------------------------------------------
    def get_json(self, key: str) -> Any | None:
        found = self._download(validate_key(key))
        return None if found is None else found[0]

    def put_json(self, key: str, value: Any) -> None:
        validate_key(key)
        self._ensure_container()
        self.container.upload_blob(key, encode_value(value), overwrite=True,
                                   content_settings=_json_content())
        logger.debug("state put %s", key)

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        validate_key(key)
        for attempt in range(1, self.max_attempts + 1):
            found = self._download(key)
            current, etag = found if found is not None else (None, None)
            new = fn(current)
            data = encode_value(new)
            try:
                if etag is None:  # If-None-Match: * — only if nobody created it meanwhile
                    self.container.upload_blob(key, data, overwrite=False,
                                               content_settings=_json_content())
                else:  # If-Match: the version we read
                    self.container.upload_blob(key, data, overwrite=True, etag=etag,
                                               match_condition=MatchConditions.IfNotModified,
                                               content_settings=_json_content())
            except (ResourceModifiedError, ResourceExistsError):  # 412, 409 BlobAlreadyExists
                logger.debug("state update of %s lost a race (attempt %d)", key, attempt)
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
                continue
            logger.debug("state updated %s", key)
            return new
        logger.warning("state update of %s gave up after %d conflicting attempts", key,
                       self.max_attempts)
        raise StateConflictError(
            f"state key {key!r} kept changing while it was being updated "
            f"({self.max_attempts} attempts); retry the operation")

    def delete(self, key: str) -> None:
        validate_key(key)
        self._ensure_container()
        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(key)
            logger.debug("state deleted %s", key)

    def list_keys(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        self._ensure_container()
        return sorted(self.container.list_blob_names(name_starts_with=prefix or None))

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in self.list_keys(prefix):
            try:
                self.container.delete_blob(key)
            except ResourceNotFoundError:
                continue
            count += 1
        logger.debug("state deleted %d keys under %r", count, prefix)
        return count

    def close(self) -> None:
        self.container.close()
        if self._owned_credential is not None:
            self._owned_credential.close()

    # ---- internals ---------------------------------------------------------------------------
    def _download(self, key: str) -> tuple[Any, str] | None:
        self._ensure_container()
        try:
            downloader = self.container.download_blob(key)
            data = downloader.readall()
        except ResourceNotFoundError:
            return None
        return decode_value(data), downloader.properties.etag

    def _ensure_container(self) -> None:
        url = self.container.url
        if url in _ensured_containers:
            return
        with _ensured_lock:
            if url in _ensured_containers:
                return
            try:
                self.container.create_container()
                logger.info("state store: created container %s", self.container.container_name)
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                # an identity allowed to use the container but not to create containers
                if exc.status_code != 403 or not self.container.exists():
                    raise
            _ensured_containers.add(url)


def state_store_from_env(env: Mapping[str, str]) -> StateStore:
    """The state store the function app uses: the ``kvdr-state`` container in its
    ``AzureWebJobsStorage`` account (see :meth:`BlobStateStore.from_settings`)."""
    return BlobStateStore.from_settings(env)


def _setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _check_service_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(SETTING_BLOB_URI, f"{uri!r} is not an https:// blob service URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(SETTING_BLOB_URI, f"{uri!r} must use https (http only for loopback)")
    if parts.query:
        # a SAS token would carry a credential in an app setting meant for identity access
        raise ConfigError(SETTING_BLOB_URI, "must not carry a query string (SAS); "
                          "grant the app's identity a Storage Blob Data role instead")
    return uri.rstrip("/")


def _identity_credential(env: Mapping[str, str]) -> Any:
    client_id = _setting(env, SETTING_CLIENT_ID)
    if client_id:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


DEV_PORTS = {"Blob": 10000, "Queue": 10001}  # Azurite's well-known ports


def expand_dev_storage(conn: str, service: str = "Blob") -> str:
    """``UseDevelopmentStorage=true`` (which the storage SDK does not parse) -> Azurite's
    well-known development account on ``service``'s port (``Blob`` or ``Queue``), at
    ``DevelopmentStorageProxyUri`` when given. Any other connection string is returned as is."""
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() != "true":
        return conn
    host = (parts.get("DevelopmentStorageProxyUri") or "http://127.0.0.1").rstrip("/")
    endpoint = f"{host}:{DEV_PORTS[service]}/{DEV_ACCOUNT_NAME}"
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
            f"AccountKey={DEV_ACCOUNT_KEY};{service}Endpoint={endpoint};")


def _json_content() -> Any:
    from azure.storage.blob import ContentSettings

    return ContentSettings(content_type="application/json")
