"""One region's vault through Microsoft's sync SDK clients: paced, counted, errors mapped.

A :class:`VaultSession` holds a ``SecretClient``, ``CertificateClient`` and ``KeyClient`` for one
vault. They share one HTTP transport (a connection pool, and the request counter behind
:attr:`VaultSession.calls`) and carry two extra pipeline pieces (:mod:`kvdr.vault.pipeline`):

* a retry policy with kvdr's backoff (1, 2, 4, 8, 16 s; a 429's or 503's ``Retry-After`` wins);
* a per-retry policy that takes a token from the vault's pacer (``kvdr.vault.pacing``) before every
  attempt — retries are paced too — and, on a 429, pauses the whole vault's pacer for the
  ``Retry-After`` the service asked for. Pacers come from one :class:`PacerRegistry` per process
  (per ``Pacing`` settings), so parallel batches in one process share a vault's budget.

azure-core never re-sends a POST or PATCH after a dropped connection: such a write is ambiguous
(it may or may not have happened). Callers check, then act (see ``kvdr.sync.replicate``).

Versions: the list APIs return items *without* their version (only the base identifier and
attributes). So that change detection needs list calls only (decision 4), kvdr identifies a
version by a *version token* built from what every call returns, its creation time:
``c<unix seconds>`` (see :func:`version_token`). ``ItemProps.version`` and the link tag carry
tokens, never service version ids; two versions of one item created within the same second share
a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
)
from azure.keyvault.certificates import CertificateClient, CertificateProperties
from azure.keyvault.keys import KeyClient, KeyProperties
from azure.keyvault.secrets import SecretClient, SecretProperties

from kvdr.config.schema import Config
from kvdr.errors import VaultError
from kvdr.vault.credentials import credential_for
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, item_key, to_utc
from kvdr.vault.pacing import BACKOFF_SECONDS, PacerRegistry
from kvdr.vault.pipeline import (
    BackoffRetryPolicy,
    CountingTransport,
    PacingPolicy,
    default_pacers,
    map_sdk_error,
)

__all__ = ["PAGE_SIZE", "VaultSession", "open_session", "props_from_certificate", "props_from_key",
           "props_from_secret", "version_token"]

log = logging.getLogger(__name__)

PAGE_SIZE = 25  # the service maximum per list page
# probe sessions (failover assessment): about 10 s worst case to call a vault unreachable
PROBE_BACKOFF: tuple[float, ...] = (0.5, 1.0)
PROBE_TIMEOUTS: tuple[float, float] = (3.0, 10.0)

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- version tokens and item properties ---------------------------------------------------------


def version_token(created_on: datetime | None) -> str | None:
    """The list-visible identity of a version: ``c<unix seconds of its creation>``."""
    created = to_utc(created_on)
    return None if created is None else f"c{int(created.timestamp())}"


def _hex(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.hex() if isinstance(value, bytes | bytearray) else str(value).lower()


def props_from_secret(p: SecretProperties) -> ItemProps:
    return ItemProps.from_service(
        ItemKind.SECRET, p.name, tags=p.tags, version=version_token(p.created_on),
        enabled=bool(p.enabled) if p.enabled is not None else True,
        content_type=p.content_type, not_before=p.not_before, expires=p.expires_on,
        managed=bool(p.managed), updated_on=p.updated_on)


def props_from_certificate(p: CertificateProperties, *, exportable: bool | None = None
                           ) -> ItemProps:
    return ItemProps.from_service(
        ItemKind.CERTIFICATE, p.name, tags=p.tags, version=version_token(p.created_on),
        enabled=bool(p.enabled) if p.enabled is not None else True,
        not_before=p.not_before, expires=p.expires_on, thumbprint=_hex(p.x509_thumbprint),
        exportable=exportable, updated_on=p.updated_on)


def props_from_key(p: KeyProperties, *, key_type: Any = None) -> ItemProps:
    return ItemProps.from_service(
        ItemKind.KEY, p.name, tags=p.tags, version=version_token(p.created_on),
        enabled=bool(p.enabled) if p.enabled is not None else True,
        not_before=p.not_before, expires=p.expires_on, managed=bool(p.managed),
        key_type=str(getattr(key_type, "value", key_type)) if key_type is not None else None,
        updated_on=p.updated_on)


# --- the session --------------------------------------------------------------------------------


class VaultSession:
    """One region's vault through the sync SDK clients (Secret/Certificate/KeyClient), paced by
    kvdr.vault.pacing (one PacerRegistry per process), every HTTP request counted, errors mapped to
    kvdr.errors.VaultError codes in one place. Thread-safe.

    ``retry_backoff`` replaces the 1, 2, 4, 8, 16 s schedule (tests use short ones);
    ``timeouts`` (connect, read seconds) replace azure-core's 300 s defaults."""

    def __init__(self, config: Config, region: str, *, credential: TokenCredential | None = None,
                 pacers: PacerRegistry | None = None,
                 retry_backoff: tuple[float, ...] = BACKOFF_SECONDS,
                 timeouts: tuple[float, float] | None = None) -> None:
        self.config = config
        self.region = region
        self.url = config.region(region).vault_url
        if credential is None:
            credential = credential_for(config)
        self.credential = credential
        self.retry_backoff = tuple(retry_backoff)
        self.pacer = (pacers or default_pacers(config.pacing)).for_vault(self.url)
        kwargs = config.client_kwargs(region)
        transport_kwargs = {k: v for k, v in kwargs.items() if k != "verify_challenge_resource"}
        if timeouts is not None:
            transport_kwargs.update(connection_timeout=timeouts[0], read_timeout=timeouts[1])
        self._transport = CountingTransport(**transport_kwargs)
        self._transport.open()  # create the session once, before threads share it
        common = {**kwargs, "transport": self._transport,
                  "retry_policy": BackoffRetryPolicy(self.retry_backoff),
                  "per_retry_policies": [PacingPolicy(self.pacer)]}
        self.secrets = SecretClient(self.url, credential, **common)
        self.certificates = CertificateClient(self.url, credential, **common)
        self.keys = KeyClient(self.url, credential, **common)

    def __repr__(self) -> str:
        return f"VaultSession(region={self.region!r}, url={self.url!r})"

    @property
    def calls(self) -> int:
        """HTTP requests made so far (retries and authentication round trips included)."""
        return self._transport.count

    # --- calling the SDK with errors mapped -----------------------------------------------------

    @contextmanager
    def mapped(self, what: str) -> Iterator[None]:
        """Turn SDK exceptions raised inside into :class:`VaultError` (``what`` names the
        operation and item, never a value)."""
        try:
            yield
        except VaultError:
            raise
        except AzureError as exc:
            raise map_sdk_error(exc, what=what, region=self.region) from None

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.mapped(what):
            return fn(*args, **kwargs)

    def call_or_none(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any
                     ) -> T | None:
        """:meth:`call`, with None for an object that does not exist (``vault.not_found``)."""
        try:
            return self.call(what, fn, *args, **kwargs)
        except VaultError as exc:
            if exc.code == "vault.not_found":
                return None
            raise

    # --- reads ----------------------------------------------------------------------------------

    def inventory(self, kinds: Iterable[ItemKind] = tuple(ItemKind), *,
                  include_deleted: bool = True) -> Inventory:
        """Every item's latest properties (list calls only, 25 a page, the kinds listed
        concurrently), plus the soft-deleted names when ``include_deleted``. ``complete`` is
        False when a listing failed part-way; when every item listing failed, the first error
        is raised."""
        kinds = tuple(dict.fromkeys(ItemKind(k) for k in kinds))
        jobs: list[tuple[str, ItemKind]] = [("items", k) for k in kinds]
        if include_deleted:
            jobs += [("deleted", k) for k in kinds]
        if not jobs:
            return Inventory(self.region)
        with ThreadPoolExecutor(max_workers=len(jobs),
                                thread_name_prefix=f"kvdr-inv-{self.region}") as pool:
            futures = [pool.submit(self._list_items if what == "items" else self._list_deleted,
                                   kind) for what, kind in jobs]
            results = [f.result() for f in futures]
        items: list[ItemProps] = []
        deleted: set[str] = set()
        complete = True
        errors: list[VaultError] = []
        item_failures = 0
        for (what, _kind), (found, error) in zip(jobs, results, strict=True):
            if error is not None:
                complete = False
                errors.append(error)
                item_failures += what == "items"
            if what == "items":
                items.extend(found)  # type: ignore[arg-type]
            else:
                deleted.update(found)  # type: ignore[arg-type]
        if kinds and item_failures == len(kinds) and not items:
            raise errors[0]
        return Inventory(self.region, tuple(items), frozenset(deleted), complete)

    def _list_items(self, kind: ItemKind) -> tuple[list[ItemProps], VaultError | None]:
        found: list[ItemProps] = []
        pager: Iterable[Any]
        convert: Callable[[Any], ItemProps]
        if kind == ItemKind.SECRET:
            pager = self.secrets.list_properties_of_secrets(max_page_size=PAGE_SIZE)
            convert = props_from_secret
        elif kind == ItemKind.CERTIFICATE:
            pager = self.certificates.list_properties_of_certificates(max_page_size=PAGE_SIZE)
            convert = props_from_certificate
        else:
            pager = self.keys.list_properties_of_keys(max_page_size=PAGE_SIZE)
            convert = props_from_key
        try:
            with self.mapped(f"list {kind}s"):
                for p in pager:
                    found.append(convert(p))
        except VaultError as exc:
            log.warning("inventory of %s: listing %ss stopped after %d items: [%s]",
                        self.region, kind, len(found), exc.code)
            return found, exc
        return found, None

    def _list_deleted(self, kind: ItemKind) -> tuple[list[str], VaultError | None]:
        found: list[str] = []
        client: Any = {ItemKind.SECRET: self.secrets, ItemKind.CERTIFICATE: self.certificates,
                       ItemKind.KEY: self.keys}[kind]
        lister = getattr(client, f"list_deleted_{kind}s")
        try:
            with self.mapped(f"list deleted {kind}s"):
                for d in lister(max_page_size=PAGE_SIZE):
                    found.append(item_key(kind, d.name))
        except VaultError as exc:
            log.warning("inventory of %s: listing deleted %ss stopped: [%s]", self.region, kind,
                        exc.code)
            return found, exc
        return found, None

    def item(self, kind: ItemKind, name: str) -> ItemProps | None:
        """The latest version's properties (no value is read), or None when the item does not
        exist. Secrets are read from their version list (a secret's value is the only thing
        ``get`` would add, and it cannot be read while disabled)."""
        kind = ItemKind(kind)
        what = f"get {kind} '{name}'"
        try:
            with self.mapped(what):
                if kind == ItemKind.SECRET:
                    latest = self.latest_secret_properties(name)
                    return None if latest is None else props_from_secret(latest)
                if kind == ItemKind.CERTIFICATE:
                    return props_from_certificate(self.certificates.get_certificate(name)
                                                  .properties)
                key = self.keys.get_key(name)
                return props_from_key(key.properties, key_type=key.key_type)
        except VaultError as exc:
            if exc.code == "vault.not_found":
                return None
            raise

    def latest_secret_properties(self, name: str) -> SecretProperties | None:
        """The SDK properties of a secret's latest version — with its service version id —
        from its version list (no value is read); None when the secret does not exist."""
        versions = self.call_or_none(
            f"list versions of secret '{name}'",
            lambda: list(self.secrets.list_properties_of_secret_versions(
                name, max_page_size=PAGE_SIZE)))
        if not versions:
            return None
        newest = max(versions, key=lambda p: (to_utc(p.created_on) or _EPOCH,
                                              to_utc(p.updated_on) or _EPOCH))
        second = version_token(newest.created_on)
        if sum(1 for p in versions if version_token(p.created_on) == second) == 1:
            return newest
        # versions created in one second tie in the list (its times are whole seconds): only
        # a get names the latest. Its value is dropped at once; a disabled latest (403) keeps
        # the list's pick
        try:
            latest = self.call(f"read secret '{name}'", self.secrets.get_secret, name)
        except VaultError as exc:
            if exc.code in ("vault.forbidden", "vault.not_found"):
                return newest
            raise
        return latest.properties

    def version_history(self, kind: ItemKind, name: str
                        ) -> list[tuple[str | None, ItemProps]] | None:
        """Every version of an item as ``(service version id, properties)``, from its version
        list (25 a page; no value is read); None when the item does not exist."""
        kind = ItemKind(kind)
        lister: Callable[..., Iterable[Any]]
        convert: Callable[[Any], ItemProps]
        if kind == ItemKind.SECRET:
            lister, convert = self.secrets.list_properties_of_secret_versions, props_from_secret
        elif kind == ItemKind.CERTIFICATE:
            lister = self.certificates.list_properties_of_certificate_versions
            convert = props_from_certificate
        else:
            lister, convert = self.keys.list_properties_of_key_versions, props_from_key
        found = self.call_or_none(f"list versions of {kind} '{name}'",
                                  lambda: list(lister(name, max_page_size=PAGE_SIZE)))
        return None if found is None else [(p.version, convert(p)) for p in found]

    def is_deleted(self, kind: ItemKind, name: str) -> bool:
        """Whether ``name`` is held soft-deleted (and so blocks re-creation)."""
        kind = ItemKind(kind)
        getter: Callable[[str], Any] = {
            ItemKind.SECRET: self.secrets.get_deleted_secret,
            ItemKind.CERTIFICATE: self.certificates.get_deleted_certificate,
            ItemKind.KEY: self.keys.get_deleted_key}[kind]
        return self.call_or_none(f"get deleted {kind} '{name}'", getter, name) is not None

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        for client in (self.secrets, self.certificates, self.keys):
            client.close()
        self._transport.close()

    def __enter__(self) -> VaultSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(config: Config, region: str, **kw: Any) -> VaultSession:
    return VaultSession(config, region, **kw)
