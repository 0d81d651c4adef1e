"""Small JSON documents that outlive one activity: plans, the last sync report, event stats.

Two stores behind one :class:`StateStore` protocol:

* :class:`FileStateStore` — a directory (the local engine and the break-glass CLI). Writes are
  atomic (temporary file + ``os.replace``); ``update_json`` is serialised per key by a thread
  lock and an ``fcntl.flock`` lock file, because the CLI and a local host may run as two
  processes on the same directory.
* :class:`BlobStateStore` — a blob container (``kvdr-state``) in the function app's
  ``AzureWebJobsStorage`` account. ``update_json`` is optimistic: read with the ETag, write with
  ``If-Match`` (or ``If-None-Match: *`` when the blob is new), retry on 412/409.

Keys are slash-separated paths (``plans/{run_id}/{target}/batch-00001.json``) of
``[A-Za-z0-9._/-]``; values are JSON. Values never hold secret material, and this module logs
keys only, never values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from kvdr.errors import ConfigError, KvdrError
from kvdr.vault.endpoints import blob_service_url

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
DEV_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"

MAX_KEY_LENGTH = 1024  # the blob service's limit on blob names
_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


class StateKeyError(KvdrError, ValueError):
    """A key or prefix that no store accepts (a programming error, not a user's)."""

    default_code = "state.invalid_key"


class StateConflictError(KvdrError):
    """``update_json`` lost the race for a key more times than it is allowed to retry."""

    default_code = "state.conflict"


@runtime_checkable
class StateStore(Protocol):
    """JSON values under slash-separated keys. Every method is safe to call from threads."""

    def get_json(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None`` when there is none."""
        ...

    def put_json(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (last writer wins)."""
        ...

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        """Replace the value with ``fn(current)`` (``None`` when missing) without losing a
        concurrent update, and return the new value. ``fn`` may be called more than once (it
        gets a fresh copy each time), so it must not have side effects; an exception from it
        propagates and leaves the stored value unchanged."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix`` (e.g. a finished run's plans);
        return how many were removed."""
        ...


# --- keys and values ----------------------------------------------------------------------------


def validate_key(key: str) -> str:
    """Return ``key`` when every store accepts it, else raise :class:`StateKeyError`.

    A key is ``/``-separated segments of ``[A-Za-z0-9._-]``: no leading or trailing ``/``, no
    empty segment, no ``..``, and no segment starting with ``.`` (reserved for the file store's
    temporary and lock files)."""
    _check_path(key, what="key")
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, except that ``""`` (every key) and a trailing ``/`` are
    allowed; a prefix may end inside a segment (``plans/run-1`` matches ``plans/run-10/…``)."""
    if not isinstance(prefix, str):
        raise StateKeyError(f"state prefix must be a string, got {prefix!r}")
    if prefix:
        _check_path(prefix.removesuffix("/"), what="prefix")
    return prefix


def _check_path(path: str, *, what: str) -> None:
    if not isinstance(path, str) or not path:
        raise StateKeyError(f"state {what} must be a non-empty string, got {path!r}")
    if len(path) > MAX_KEY_LENGTH:
        raise StateKeyError(f"state {what} is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(path):
        raise StateKeyError(
            f"state {what} {path!r} may contain only letters, digits, '.', '_', '-' and '/'")
    if path.startswith("/"):
        raise StateKeyError(f"state {what} {path!r} must be relative (no leading '/')")
    if path.endswith("/"):
        raise StateKeyError(f"state {what} {path!r} ends with '/': a key names a value")
    if ".." in path:
        raise StateKeyError(f"state {what} {path!r} must not contain '..'")
    segments = path.split("/")
    if "" in segments:
        raise StateKeyError(f"state {what} {path!r} has an empty segment ('//')")
    if any(s.startswith(".") for s in segments):
        raise StateKeyError(
            f"state {what} {path!r} has a segment starting with '.' (reserved for the store)")


def _encode(value: Any) -> bytes:
    # allow_nan=False: NaN/Infinity are not JSON, and other readers would reject them
    return json.dumps(value, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def _decode(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


# --- the local store ----------------------------------------------------------------------------


class FileStateStore:
    """JSON files under ``root``; a key is a relative path (``plans/r1/westus/batch-00001.json``).

    Lock files live under ``root/.locks/`` and are kept (deleting a lock file that another
    process may hold is a race); only ``update_json`` creates them."""

    LOCK_DIR = ".locks"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"FileStateStore(root={str(self.root)!r})"

    def get_json(self, key: str) -> Any | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise StateKeyError(f"state key {key!r} names a folder of keys, not a value") from None
        return _decode(data)

    def put_json(self, key: str, value: Any) -> None:
        self._write(self._path(key), _encode(value))
        logger.debug("state put %s", key)

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        path = self._path(key)
        with self._locked(key):
            current = self.get_json(key)
            new = fn(current)
            self._write(path, _encode(new))
        logger.debug("state updated %s", key)
        return new

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
            logger.debug("state deleted %s", key)
            self._prune(path.parent)

    def list_keys(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        return sorted(self._iter_keys(prefix))

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        count = 0
        folders: set[Path] = set()
        for key in self._iter_keys(prefix):
            path = self.root / key
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                count += 1
                folders.add(path.parent)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            self._prune(folder)
        logger.debug("state deleted %d keys under %r", count, prefix)
        return count

    # ---- internals ---------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        # walk only the folder the prefix lies in, not the whole tree
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in filenames:
                key = base + name
                if not name.startswith(".") and key.startswith(prefix):
                    yield key

    def _write(self, path: Path, data: bytes) -> None:
        if path.is_dir():
            raise StateKeyError(
                f"state key {path.relative_to(self.root).as_posix()!r} names a folder of keys")
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                           suffix=".tmp")
                break
            except FileNotFoundError:  # a concurrent delete pruned the (then empty) folder
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _prune(self, folder: Path) -> None:
        """Remove empty folders from ``folder`` up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone / recreated by a writer
                return
            folder = folder.parent

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        with self._guard:
            thread_lock = self._key_locks.setdefault(key, threading.Lock())
        lock_path = self.root / self.LOCK_DIR / f"{key}.lock"
        with thread_lock:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock


# --- the Azure store ----------------------------------------------------------------------------

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
          endpoint of that account (:func:`kvdr.vault.endpoints.blob_service_url`); in other clouds
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
        conn = _expand_dev_storage(conn)
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
        self.container.upload_blob(key, _encode(value), overwrite=True,
                                   content_settings=_json_content())
        logger.debug("state put %s", key)

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        validate_key(key)
        for attempt in range(1, self.max_attempts + 1):
            found = self._download(key)
            current, etag = found if found is not None else (None, None)
            new = fn(current)
            data = _encode(new)
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
        return _decode(data), downloader.properties.etag

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


def _expand_dev_storage(conn: str) -> str:
    """``UseDevelopmentStorage=true`` (which the storage SDK does not parse) -> Azurite's
    well-known development account, at ``DevelopmentStorageProxyUri`` when given."""
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() != "true":
        return conn
    endpoint = DEV_BLOB_ENDPOINT
    proxy = parts.get("DevelopmentStorageProxyUri")
    if proxy:
        endpoint = f"{proxy.rstrip('/')}:10000/{DEV_ACCOUNT_NAME}"
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
            f"AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};")


def _json_content() -> Any:
    from azure.storage.blob import ContentSettings

    return ContentSettings(content_type="application/json")
