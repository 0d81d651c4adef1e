"""Where "rotation due" messages go: a publisher behind a small protocol, and the Azure Storage
queue that implements it (Azurite's queue service locally).

The queue is named by ``rotation.queue`` (``KVDR_ROTATION_QUEUE``); unset, publishing is off,
and the process says so once in its log (and ``GET /api/topology`` says so), never per event.
The connection is found the way the Functions host finds a connection named
``rotation.connection`` (default ``KvdrEventsQueue``, the events storage account's), in order:

* ``<name>__queueServiceUri`` — identity-based, an explicit endpoint (what the template sets);
* ``<name>__accountName`` — identity-based, the public cloud's queue endpoint of that account;
* ``<name>`` — a connection string; ``UseDevelopmentStorage=true`` is Azurite on
  ``127.0.0.1:10001``.

Identity-based connections use ``ManagedIdentityCredential(client_id=<name>__clientId)`` when
that is set, else ``DefaultAzureCredential`` (the app's managed identity in Azure). The identity
needs *Storage Queue Data Message Sender* on the queue; the template creates the queue, and
kvdr creates it only when missing and allowed to.

Messages are plain JSON text (no base64) and never expire in the queue (``time_to_live=-1``): a
rotation due stays due until a job takes it. Nothing here logs a connection string or a key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import QueueClient

from kvdr.config.endpoints import DEFAULT_STORAGE_SUFFIX, is_loopback_host
from kvdr.config.schema import Config
from kvdr.errors import ConfigError, KvdrError
from kvdr.rotation.message import RotationMessage
from kvdr.state.blob import expand_dev_storage

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "kvdr-rotation"
PUBLISH_FAILED_CODE = "rotation.publish_failed"
NEVER_EXPIRES = -1  # the queue keeps the message until a consumer deletes it
# The storage SDK's default retries wait 15, 18 and 24 s: far too long inside an event trigger,
# which Event Grid retries anyway. About 1, 3 and 5 s, and bounded timeouts.
CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "initial_backoff": 1, "increment_base": 2,
                                  "random_jitter_range": 1, "connection_timeout": 5,
                                  "read_timeout": 20}


class PublishError(KvdrError):
    """The queue did not take a message (code ``rotation.publish_failed``); the caller retries
    (the event path raises, so Event Grid redelivers; the scan reports it)."""

    default_code = PUBLISH_FAILED_CODE


class RotationPublisher(Protocol):
    """Takes one message; raises :class:`PublishError` when it could not. ``describe`` says
    where messages go, without a credential."""

    def publish(self, message: RotationMessage) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class QueuePublisher:
    """An Azure Storage queue. The queue is created on first use when missing (once per
    process); an identity that may only send (403 on create) relies on the deployment's queue."""

    def __init__(self, client: QueueClient, *, connection: str, auth: str,
                 owned_credential: Any | None = None) -> None:
        self.client = client
        self.connection = connection
        self.auth = auth
        self._owned_credential = owned_credential
        self._ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QueuePublisher(url={self.url!r})"

    @property
    def url(self) -> str:
        """The queue's URL without any query string (a SAS would be a credential)."""
        parts = urlsplit(self.client.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    def describe(self) -> dict[str, Any]:
        return {"enabled": True, "queue": self.client.queue_name, "url": self.url,
                "connection": self.connection, "auth": self.auth}

    def publish(self, message: RotationMessage) -> None:
        try:
            self._ensure_queue()
            self.client.send_message(message.to_json(), time_to_live=NEVER_EXPIRES)
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            raise PublishError(f"the rotation queue {self.url} did not take the message for "
                               f"{message.kind} '{message.name}' ({type(exc).__name__}"
                               f"{f', HTTP {status}' if status else ''}); it is retried") \
                from None
        log.info("rotation due published: %s '%s' expires %s (%s, id %s) to %s", message.kind,
                 message.name, message.to_dict()["expires"], message.reason, message.id,
                 self.client.queue_name)

    def close(self) -> None:
        self.client.close()
        if self._owned_credential is not None:
            self._owned_credential.close()

    def _ensure_queue(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.client.create_queue()
                log.info("rotation queue %s created", self.client.queue_name)
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                # an identity allowed to send but not to create: the deployment made the queue
                if exc.status_code != 403:
                    raise
                log.info("rotation queue %s: not allowed to create it; assuming the "
                         "deployment did", self.client.queue_name)
            self._ready = True


def queue_publisher(env: Mapping[str, str], queue: str, connection: str,
                    **client_kwargs: Any) -> QueuePublisher:
    """The publisher for ``queue`` through the connection named ``connection`` in ``env`` (see
    the module docstring). Raises :class:`ConfigError` naming the setting when none is usable."""
    uri = _setting(env, f"{connection}__queueServiceUri")
    account = _setting(env, f"{connection}__accountName")
    if uri or account:
        url = _service_uri(f"{connection}__queueServiceUri", uri) if uri else \
            f"https://{_account(f'{connection}__accountName', account)}.queue." \
            f"{DEFAULT_STORAGE_SUFFIX}"
        credential = _identity_credential(env, connection)
        client = QueueClient(url, queue, credential=credential, **client_kwargs)
        log.info("rotation queue: %s at %s (identity-based)", queue, url)
        return QueuePublisher(client, connection=connection, auth="identity",
                              owned_credential=credential)
    text = _setting(env, connection)
    if not text:
        raise ConfigError(connection, f"the rotation queue {queue!r} is configured but its "
                          f"connection is not: set {connection}__queueServiceUri "
                          f"(identity-based), {connection}__accountName, or a connection "
                          f"string in {connection} (UseDevelopmentStorage=true for Azurite)",
                          code="config.missing")
    try:
        client = QueueClient.from_connection_string(expand_dev_storage(text, "Queue"), queue,
                                                    **client_kwargs)
    except ValueError:
        # the connection string holds the account key: never echo it
        raise ConfigError(connection, "is not a valid storage connection string (or "
                          "UseDevelopmentStorage=true)") from None
    log.info("rotation queue: %s at %s (connection string)", queue,
             client.primary_endpoint.split("?", 1)[0].rsplit("/", 1)[0])
    return QueuePublisher(client, connection=connection, auth="connection string")


# --- the process's publisher -------------------------------------------------------------------

_lock = threading.Lock()
_publishers: dict[str, QueuePublisher] = {}
_said_off = False


def rotation_publisher(config: Config, env: Mapping[str, str] | None = None
                       ) -> RotationPublisher | None:
    """This process's publisher for ``config``'s rotation queue (built once per queue and
    connection; the environment is read each time, so a changed connection takes effect);
    None when publishing is off, which is logged once per process."""
    global _said_off
    settings = config.rotation
    if not settings.queue:
        with _lock:
            if not _said_off:
                _said_off = True
                log.info("rotation publishing is off: rotation.queue (KVDR_ROTATION_QUEUE) is "
                         "not set, so no rotation-due messages are sent")
        return None
    env = os.environ if env is None else env
    names = [settings.connection, *(f"{settings.connection}__{suffix}" for suffix in
                                    ("queueServiceUri", "accountName", "clientId"))]
    # the key holds a digest, not the connection string (which may hold the account key)
    key = hashlib.sha256("\n".join([settings.queue, *names, *(env.get(n) or "" for n in names)])
                         .encode("utf-8")).hexdigest()
    with _lock:
        found = _publishers.get(key)
        if found is None:
            found = _publishers[key] = queue_publisher(env, settings.queue, settings.connection,
                                                       **CLIENT_OPTIONS)
        return found


def describe_rotation(config: Config, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``GET /api/topology`` shows of the rotation queue: where it is, or why it is off
    or unusable (never a connection string)."""
    if not config.rotation.queue:
        return {"enabled": False, "reason": "rotation.queue (KVDR_ROTATION_QUEUE) is not set"}
    try:
        publisher = rotation_publisher(config, env)
    except KvdrError as exc:
        return {"enabled": False, "queue": config.rotation.queue,
                "connection": config.rotation.connection, "error": exc.to_dict()}
    return publisher.describe() if publisher is not None else {"enabled": False}


def forget_publishers() -> None:
    """Close and forget this process's publishers (tests; a new configuration)."""
    global _said_off
    with _lock:
        found = list(_publishers.values())
        _publishers.clear()
        _said_off = False
    for publisher in found:
        publisher.close()


# --- settings -----------------------------------------------------------------------------------


def _setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _service_uri(setting: str, uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(setting, f"{uri!r} is not an https:// queue service URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(setting, f"{uri!r} must use https (http only for loopback)")
    if parts.query:
        # a SAS token would carry a credential in a setting meant for identity access
        raise ConfigError(setting, "must not carry a query string (SAS); grant the app's "
                          "identity Storage Queue Data Message Sender instead")
    return uri.rstrip("/")


def _account(setting: str, account: str) -> str:
    if not (3 <= len(account) <= 24 and account.isalnum() and account == account.lower()):
        raise ConfigError(setting, f"{account!r} is not a storage account name (3-24 lowercase "
                          "letters and digits)")
    return account


def _identity_credential(env: Mapping[str, str], connection: str) -> Any:
    client_id = _setting(env, f"{connection}__clientId")
    # azure.identity is slow to import and needed only for identity-based connections
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential()
