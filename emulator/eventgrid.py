"""Event Grid for the emulator: Key Vault system-topic events pushed to webhooks.

Every new version a vault stores (``VaultStore.observers``) becomes a
``Microsoft.KeyVault.{Secret,Key,Certificate}NewVersionCreated`` event in the Event Grid schema,
as a vault's system topic emits it::

    [{"id": "<uuid>", "topic": "/subscriptions/0000…/resourceGroups/emulator/providers/
      Microsoft.KeyVault/vaults/<vault>", "subject": "<name>", "eventType": "…",
      "eventTime": "…Z", "dataVersion": "1", "metadataVersion": "1",
      "data": {"Id": "https://127.0.0.1:PORT/secrets/<name>/<version>", "VaultName": "<vault>",
               "ObjectType": "Secret", "ObjectName": "<name>", "Version": "<version>",
               "NBF": 1700000000 | null, "EXP": … | null}}]

A certificate version also stores a backing key and secret of the same name and version; the
emulator announces all three (Certificate-, Key- and SecretNewVersionCreated), so receivers must
recognise backing objects (kvdr does: ``managed``). ``…NearExpiry``/``…Expired`` come from the
emulator's clock (emulator/expiry.py, emulator/certificate_lifetime.py); they can also be
injected with :meth:`EventGridPublisher.publish` (the test handle's ``emit_event``).
``eventTime`` is the emulator's clock time.

Delivery follows Event Grid's contract: a subscription first passes the validation handshake
(``Microsoft.EventGrid.SubscriptionValidationEvent`` with ``data.validationCode``; the endpoint
answers 200 ``{"validationResponse": code}``), then one event per POST (``maxEventsPerBatch``
1, as kvdr's Bicep subscribes), at-least-once: a non-2xx answer or a connection error is retried
with exponential backoff (0.05 s doubling to 5 s, 30 attempts), 400/413 dead-letter at once.
Deliveries run concurrently (``concurrency`` in flight per subscription), so order is not
guaranteed even without ``reorder``; ``reorder`` adds a seeded random delay per event (up to
``reorder_window`` s) and ``duplicate_rate`` delivers that fraction of events twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from emulator.clock import EmulatorClock
from emulator.vaults import Vault, find_vault

log = logging.getLogger("emulator.eventgrid")

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "emulator"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
CHANGES = ("NewVersionCreated", "NearExpiry", "Expired")
_OBJECT_TYPES = {"secrets": "Secret", "keys": "Key", "certificates": "Certificate"}
_KIND_OF_TYPE = {v.lower(): k for k, v in _OBJECT_TYPES.items()}
MAX_ATTEMPTS = 30
NO_RETRY = {400, 413}


def vault_resource_id(vault: str) -> str:
    return (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.KeyVault/vaults/{vault}")


def _now(clock: EmulatorClock | None = None) -> str:
    moment = clock.now() if clock is not None else datetime.now(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_event(vault: str, vault_url: str, kind: str, name: str, version: str,
                change: str = "NewVersionCreated", *, nbf: int | None = None,
                exp: int | None = None, clock: EmulatorClock | None = None) -> dict[str, Any]:
    """One Key Vault event in the Event Grid schema. ``kind`` is the store's (``secrets``,
    ``keys``, ``certificates``) or the ObjectType (``Secret``…); ``eventTime`` is ``clock``'s
    time (the emulator's), or the real time without one."""
    kind = _KIND_OF_TYPE.get(kind.lower(), kind)
    object_type = _OBJECT_TYPES[kind]
    if change not in CHANGES:
        raise ValueError(f"unknown change {change!r}; use one of {', '.join(CHANGES)}")
    return {
        "id": str(uuid.uuid4()),
        "topic": vault_resource_id(vault),
        "subject": name,
        "eventType": f"Microsoft.KeyVault.{object_type}{change}",
        "eventTime": _now(clock),
        "data": {"Id": f"{vault_url.rstrip('/')}/{kind}/{name}/{version}", "VaultName": vault,
                 "ObjectType": object_type, "ObjectName": name, "Version": version,
                 "NBF": nbf, "EXP": exp},
        "dataVersion": "1",
        "metadataVersion": "1",
    }


@dataclass
class Subscription:
    """One webhook subscription and its delivery counters."""

    id: str
    url: str
    vault: str | None = None          # None: every vault of the emulator
    duplicate_rate: float = 0.0
    reorder: bool = False
    reorder_window: float = 0.2
    seed: int = 0
    concurrency: int = 4
    max_attempts: int = MAX_ATTEMPTS
    state: str = "validating"         # validating | active | failed | deleted
    published: int = 0
    delivered: int = 0
    attempts: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: list[str] = field(default_factory=list)
    last_error: str | None = None
    outstanding: int = 0              # accepted, not yet delivered or dead-lettered
    queue: asyncio.Queue[tuple[dict[str, Any], int]] | None = field(default=None, repr=False)
    validated: asyncio.Event | None = field(default=None, repr=False)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def snapshot(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "vault": self.vault, "state": self.state,
                "duplicate_rate": self.duplicate_rate, "reorder": self.reorder,
                "published": self.published, "delivered": self.delivered,
                "attempts": self.attempts, "duplicates": self.duplicates,
                "retries": self.retries, "outstanding": self.outstanding,
                "dead_lettered": list(self.dead_lettered), "last_error": self.last_error}


class EventGridPublisher:
    """The emulator's Event Grid: observes every vault's store and delivers to subscriptions.
    Runs on the emulator's event loop; :meth:`publish` may be called from any thread."""

    def __init__(self, vaults: Mapping[str, Vault], clock: EmulatorClock | None = None) -> None:
        self.vaults = vaults
        self.clock = clock
        self.subscriptions: dict[str, Subscription] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        for vault in vaults.values():
            vault.store.observers.append(self._observe)

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        for sub in list(self.subscriptions.values()):
            await self._cancel(sub)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(limit=64))
        return self._session

    # ---- subscriptions (call on the loop) ----------------------------------------------------
    def subscribe(self, url: str, *, vault: str | None = None, duplicate_rate: float = 0.0,
                  reorder: bool = False, reorder_window: float = 0.2, seed: int = 0,
                  concurrency: int = 4, max_attempts: int = MAX_ATTEMPTS) -> Subscription:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        if vault is not None:
            find_vault(self.vaults, vault)  # KeyError for unknown vaults
        if not 0.0 <= duplicate_rate <= 1.0:
            raise ValueError("duplicate_rate must be between 0 and 1")
        if concurrency < 1 or max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        self._loop = asyncio.get_running_loop()
        sub = Subscription(id=f"sub-{next(self._ids)}", url=url, vault=vault,
                           duplicate_rate=duplicate_rate, reorder=reorder,
                           reorder_window=reorder_window, seed=seed, concurrency=concurrency,
                           max_attempts=max_attempts, rng=random.Random(seed))
        sub.queue = asyncio.Queue()
        sub.validated = asyncio.Event()
        self.subscriptions[sub.id] = sub
        sub.tasks.append(asyncio.create_task(self._validate(sub)))
        sub.tasks += [asyncio.create_task(self._worker(sub)) for _ in range(concurrency)]
        return sub

    async def unsubscribe(self, sub_id: str) -> None:
        sub = self.subscriptions.pop(sub_id)
        await self._cancel(sub)

    async def _cancel(self, sub: Subscription) -> None:
        sub.state = "deleted" if sub.state != "failed" else sub.state
        for task in sub.tasks:
            task.cancel()
        await asyncio.gather(*sub.tasks, return_exceptions=True)
        sub.tasks.clear()

    async def wait_validated(self, sub: Subscription, timeout: float) -> None:
        assert sub.validated is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while sub.state == "validating":
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{sub.url} did not answer the validation handshake "
                                   f"within {timeout:g}s ({sub.last_error or 'no answer'})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.validated.wait(), min(remaining, 0.1))
        if sub.state != "active":
            raise RuntimeError(f"subscription to {sub.url} failed validation: {sub.last_error}")

    async def idle(self, timeout: float) -> bool:
        """Wait until every subscription has delivered (or dead-lettered) what it accepted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(s.outstanding for s in self.subscriptions.values()):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def snapshot(self) -> list[dict[str, Any]]:
        return [s.snapshot() for s in self.subscriptions.values()]

    # ---- publishing (any thread) -------------------------------------------------------------
    def _observe(self, vault: str, kind: str, name: str, version: str) -> None:
        attrs: dict[str, Any] = {}
        store = self.vaults[vault].store
        item = store.get(kind, name)
        stored = item.get(version) if item is not None else None
        if stored is not None:
            attrs = stored.attributes
        self.publish(vault, kind, name, version, nbf=attrs.get("nbf"), exp=attrs.get("exp"))

    def publish(self, vault: str, kind: str, name: str, version: str,
                change: str = "NewVersionCreated", *, nbf: int | None = None,
                exp: int | None = None) -> dict[str, Any] | None:
        """Emit one event for ``vault`` to every matching subscription; returns the event
        (None when nothing subscribes)."""
        subs = [s for s in self.subscriptions.values()
                if s.state in ("validating", "active") and s.vault in (None, vault)]
        if not subs or self._loop is None:
            return None
        event = build_event(vault, find_vault(self.vaults, vault).url, kind, name, version, change,
                            nbf=nbf, exp=exp, clock=self.clock)
        for sub in subs:
            self._loop.call_soon_threadsafe(self._accept, sub, event)
        return event

    def _accept(self, sub: Subscription, event: dict[str, Any]) -> None:
        copies = 1
        if sub.duplicate_rate and sub.rng.random() < sub.duplicate_rate:
            copies = 2
            sub.duplicates += 1
        sub.published += 1
        for _ in range(copies):
            sub.outstanding += 1
            delay = sub.rng.uniform(0, sub.reorder_window) if sub.reorder else 0.0
            self._enqueue(sub, event, 0, delay)

    def _enqueue(self, sub: Subscription, event: dict[str, Any], attempt: int,
                 delay: float) -> None:
        assert sub.queue is not None and self._loop is not None
        if delay > 0:
            self._loop.call_later(delay, sub.queue.put_nowait, (event, attempt))
        else:
            sub.queue.put_nowait((event, attempt))

    # ---- delivery ----------------------------------------------------------------------------
    def _headers(self, sub: Subscription, kind: str, attempt: int) -> dict[str, str]:
        return {"Content-Type": "application/json", "aeg-event-type": kind,
                "aeg-subscription-name": sub.id.upper(), "aeg-delivery-count": str(attempt),
                "aeg-data-version": "1", "aeg-metadata-version": "1"}

    async def _validate(self, sub: Subscription) -> None:
        code = str(uuid.uuid4())
        event = {"id": str(uuid.uuid4()), "topic": vault_resource_id(sub.vault or "emulator"),
                 "subject": "", "eventType": VALIDATION_EVENT, "eventTime": _now(),
                 "data": {"validationCode": code,
                          "validationUrl": f"{sub.url}&validation=unsupported"},
                 "dataVersion": "2", "metadataVersion": "1"}
        assert sub.validated is not None
        for attempt in range(sub.max_attempts):
            try:
                async with self._http().post(
                        sub.url, json=[event],
                        headers=self._headers(sub, "SubscriptionValidation", attempt)) as resp:
                    body = await resp.json(content_type=None) if resp.status == 200 else None
                    if isinstance(body, dict) and body.get("validationResponse") == code:
                        sub.state = "active"
                        sub.validated.set()
                        return
                    sub.last_error = f"validation answered {resp.status}: {body!r:.200}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                sub.last_error = f"validation: {type(exc).__name__}: {exc}"
            await asyncio.sleep(min(0.05 * 2 ** attempt, 5.0))
        sub.state = "failed"
        sub.validated.set()
        log.warning("subscription %s to %s failed validation: %s", sub.id, sub.url,
                    sub.last_error)

    async def _worker(self, sub: Subscription) -> None:
        assert sub.queue is not None and sub.validated is not None
        await sub.validated.wait()
        while True:
            event, attempt = await sub.queue.get()
            if sub.state != "active":
                sub.dead_lettered.append(event["id"])
                sub.outstanding -= 1
                continue
            sub.attempts += 1
            status: int | None = None
            try:
                async with self._http().post(
                        sub.url, json=[event],
                        headers=self._headers(sub, "Notification", attempt)) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                sub.last_error = f"{type(exc).__name__}: {exc}"
            if status is not None and 200 <= status < 300:
                sub.delivered += 1
                sub.outstanding -= 1
                continue
            if status is not None:
                sub.last_error = f"HTTP {status}"
            if status in NO_RETRY or attempt + 1 >= sub.max_attempts:
                log.warning("dead-lettered event %s after %d attempt(s): %s", event["id"],
                            attempt + 1, sub.last_error)
                sub.dead_lettered.append(event["id"])
                sub.outstanding -= 1
                continue
            sub.retries += 1
            self._enqueue(sub, event, attempt + 1, min(0.05 * 2 ** attempt, 5.0))

    # ---- admin API ---------------------------------------------------------------------------
    def subscribe_from_body(self, body: Any, vault: str | None) -> Subscription:
        """``POST /_emulator/eventgrid`` with ``{"url", "duplicate_rate", "reorder", "seed",
        "vault"}``; ``vault`` (the vault whose port was used) is the default filter."""
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise ValueError('body must be {"url": "http://...", "duplicate_rate": 0.0, '
                             '"reorder": false, "seed": 0}')
        rate = body.get("duplicate_rate", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError("duplicate_rate must be a number between 0 and 1")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        return self.subscribe(body["url"], vault=body.get("vault", vault),
                              duplicate_rate=float(rate), reorder=bool(body.get("reorder")),
                              seed=seed)
