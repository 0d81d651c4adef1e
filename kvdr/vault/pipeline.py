"""The HTTP pipeline pieces every :class:`~kvdr.vault.session.VaultSession` shares, and the one
mapping from SDK and transport exceptions to :class:`~kvdr.errors.VaultError` codes.

* :class:`BackoffRetryPolicy`: kvdr's backoff (1, 2, 4, 8, 16 s; a 429's or 503's
  ``Retry-After`` wins);
* :class:`PacingPolicy`: a token from the vault's pacer before every attempt (retries are
  paced too); a 429 slows the bucket it spent, and a cluster of them pauses the whole vault
  for the ``Retry-After`` asked for (:meth:`VaultPacer.throttled`); the request that got it
  waits its own ``Retry-After`` in the retry policy (or, for unretried writes, the copier);
* :class:`CountingTransport`: one connection pool per session, counting every request;
* :func:`default_pacers`: one :class:`PacerRegistry` per process and ``Pacing`` settings.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from kvdr.config.schema import Pacing
from kvdr.errors import VaultError, vault_error
from kvdr.vault.pacing import (
    BACKOFF_SECONDS,
    Operation,
    PacerRegistry,
    VaultPacer,
    parse_retry_after,
)
from kvdr.vault.permissions import denied_action

_POOL_SIZE = 32  # connections per host: inventory threads and parallel batches share them


# --- error mapping ------------------------------------------------------------------------------


def _service_code(exc: HttpResponseError) -> str | None:
    """Key Vault's error code: the inner code when present (e.g. ObjectIsDeletedButRecoverable
    under Conflict), else the top-level code."""
    body: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = json.loads(response.text())
        except (ValueError, TypeError, AttributeError):
            body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        inner = error.get("innererror")
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
        if error.get("code"):
            return str(error["code"])
    err = getattr(exc, "error", None)
    return getattr(err, "code", None)


def map_sdk_error(exc: BaseException, *, what: str, region: str | None = None) -> VaultError:
    """An SDK/transport exception as a :class:`VaultError` (via the one mapping in
    :func:`kvdr.errors.vault_error`). The SDK's message is not kept: it is not ours to vouch
    for, and a vault error message must never carry a value."""
    if isinstance(exc, VaultError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:
        # the credential could not get a token (no HTTP response): an identity problem
        return vault_error(401, None, what=what, region=region)
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        retry_after = None
        if exc.response is not None:
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        return vault_error(exc.status_code, _service_code(exc), what=what, region=region,
                           retry_after=retry_after,
                           action=denied_action(exc) if exc.status_code == 403 else None)
    if isinstance(exc, ServiceRequestError):
        return vault_error(None, None, what=what, region=region, reached=False)
    return vault_error(None, type(exc).__name__, what=what, region=region, reached=True)


# --- pipeline pieces ----------------------------------------------------------------------------


def operation_for(method: str, url: str) -> Operation:
    """Which pacer budget a request spends: creates/imports/restores/sets are writes, key
    creates and restores also key creates, everything else a read."""
    method = method.upper()
    parts = [p for p in urlsplit(url).path.lower().split("/") if p]
    if not parts:
        return Operation.READ
    collection = parts[0]
    if collection == "keys":
        if method == "POST" and (parts[-1] == "create" or parts[1:] == ["restore"]):
            return Operation.KEY_CREATE
        if method == "PUT" and len(parts) == 2:  # import
            return Operation.WRITE
        return Operation.READ
    if collection == "secrets":
        if (method == "PUT" and len(parts) == 2) or (method == "POST" and parts[1:] == ["restore"]):
            return Operation.WRITE
        return Operation.READ
    if collection == "certificates" and method == "POST" and (
            parts[-1] in ("create", "import") or parts[1:] == ["restore"]):
        return Operation.WRITE
    return Operation.READ


class PacingPolicy(HTTPPolicy):
    """Per-retry: a pacer token before every attempt; the answer tells the pacer whether the
    vault throttled it. One 429 does not stop the vault's other requests (it used to pause the
    whole vault, so at 2 % random 429s every thread stood still most of the time): the pacer
    slows down, and pauses the vault only for a cluster of 429s."""

    def __init__(self, pacer: VaultPacer) -> None:
        super().__init__()
        self._pacer = pacer

    def send(self, request: PipelineRequest) -> PipelineResponse:
        http = request.http_request
        operation = operation_for(http.method, http.url)
        self._pacer.acquire(operation)
        response = self.next.send(request)
        status = response.http_response.status_code
        if status == 429:
            wait = parse_retry_after(response.http_response.headers.get("Retry-After"))
            self._pacer.throttled(operation, wait if wait is not None else BACKOFF_SECONDS[0])
        elif status < 500:  # admitted (a 5xx says nothing about the budget either way)
            self._pacer.admitted(operation)
        return response


class BackoffRetryPolicy(RetryPolicy):
    """azure-core's retry with kvdr's schedule: 1, 2, 4, 8, 16 s (``Retry-After`` wins)."""

    def __init__(self, schedule: tuple[float, ...]) -> None:
        n = len(schedule)
        super().__init__(retry_total=n, retry_connect=n, retry_read=n, retry_status=n,
                         retry_backoff_factor=schedule[0] if schedule else 0,
                         retry_backoff_max=max(schedule, default=0))
        self._schedule = schedule
        # Key Vault's PATCHes (properties, policies, issuers) set the values they carry: sent
        # twice, they leave what one leaves, so a PATCH whose answer was lost is sent again
        # (azure-core re-sends only GET/PUT/DELETE/HEAD after a dropped connection). POSTs are
        # not: creates, imports and restores go through the copier's check-then-write.
        self._method_whitelist = frozenset({*self._method_whitelist, "PATCH"})

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        attempt = len(settings["history"])
        if attempt <= 0 or not self._schedule:
            return 0
        return self._schedule[min(attempt, len(self._schedule)) - 1]


class CountingTransport(RequestsTransport):
    """The requests transport, counting every HTTP request sent (retries and the challenge
    round trip included), with a connection pool big enough for kvdr's threads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._count_lock = threading.Lock()
        self.count = 0

    def _init_session(self, session: Any) -> None:
        super()._init_session(session)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=_POOL_SIZE,
                              max_retries=Retry(total=False, redirect=False,
                                                raise_on_status=False))
        for protocol in self._protocols:
            session.mount(protocol, adapter)

    def send(self, request: Any, **kwargs: Any) -> Any:
        with self._count_lock:
            self.count += 1
        return super().send(request, **kwargs)


_REGISTRIES: dict[Pacing, PacerRegistry] = {}
_REGISTRIES_LOCK = threading.Lock()


def default_pacers(pacing: Pacing) -> PacerRegistry:
    """The process-wide pacer registry for these pacing settings."""
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(pacing)
        if registry is None:
            registry = _REGISTRIES[pacing] = PacerRegistry(pacing)
        return registry
