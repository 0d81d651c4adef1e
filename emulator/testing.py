"""The emulator in-process: a context manager, SDK client helpers, a fake credential and
pytest fixtures (load with ``pytest_plugins = ["emulator.testing"]``).

    with Emulator(["east", "west"]) as emu:
        client = emu.secret_client("east")
        client.set_secret("db-password", "s3cret")
        emu.stats("east")["operations"]["SetSecret"]
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import AioHttpTransport, RequestsTransport
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.certificates.aio import CertificateClient as AioCertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.aio import KeyClient as AioKeyClient
from azure.keyvault.keys.crypto import CryptographyClient
from azure.keyvault.keys.crypto.aio import CryptographyClient as AioCryptographyClient
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AioSecretClient

from emulator.clock import EmulatorClock
from emulator.server import DownMode, EmulatorServer, VaultSpec
from emulator.store import VaultStore
from emulator.throttle import ThrottleLimits

T = TypeVar("T")
DEFAULT_TOKEN = "emulator"


class FakeCredential:
    """A sync credential that hands out ``token`` (any token is accepted unless roles are set)."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        pass


class AsyncFakeCredential:
    """The async twin of :class:`FakeCredential`, for the SDKs' ``.aio`` clients."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncFakeCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


def client_kwargs(ca_cert: str | Path) -> dict[str, Any]:
    """Keyword arguments every Key Vault SDK client needs against the emulator."""
    return {"connection_verify": str(ca_cert), "verify_challenge_resource": False}


class EmulatorAioTransport(AioHttpTransport):
    """azure-core's aiohttp transport with one SSL context for the emulator's CA.

    Given ``connection_verify=<path>``, azure-core builds a new ``SSLContext`` for every
    request, so aiohttp can never reuse a connection and each request pays a TLS handshake
    (about 10x slower). This transport builds the context once.
    """

    def __init__(self, ca_cert: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ssl_context = ssl.create_default_context(cafile=str(ca_cert))

    def _build_ssl_config(self, cert: Any, verify: Any) -> ssl.SSLContext:
        return self._ssl_context


def aio_client_kwargs(ca_cert: str | Path) -> dict[str, Any]:
    """Keyword arguments for the SDKs' ``.aio`` clients against the emulator."""
    return {**client_kwargs(ca_cert), "transport": EmulatorAioTransport(ca_cert)}


class SkippedTime:
    """A clock for the emulator's throttle (``Emulator(throttle_clock=...)``) that stands still
    until a client's retry wait moves it on: throttling tests then depend on the requests they
    send, not on how fast the machine sends them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TimeSkippingTransport(RequestsTransport):
    """The SDK's requests transport whose retry waits (Retry-After, backoff) advance a
    :class:`SkippedTime` instead of sleeping."""

    def __init__(self, clock: SkippedTime, ca_cert: str | Path, **kwargs: Any) -> None:
        super().__init__(connection_verify=str(ca_cert), **kwargs)
        self.clock = clock

    def sleep(self, duration: float) -> None:
        self.clock.advance(duration)


class AioTimeSkippingTransport(EmulatorAioTransport):
    """The ``.aio`` twin of :class:`TimeSkippingTransport`."""

    def __init__(self, clock: SkippedTime, ca_cert: str | Path, **kwargs: Any) -> None:
        super().__init__(ca_cert, **kwargs)
        self.clock = clock

    async def sleep(self, duration: float) -> None:
        self.clock.advance(duration)


@dataclass(frozen=True)
class VaultInfo:
    name: str
    url: str
    ca_cert: str
    geography: str


class Emulator:
    """Runs an :class:`EmulatorServer` on a background thread's event loop."""

    def __init__(
        self,
        vaults: Sequence[str | VaultSpec] = ("vault",),
        *,
        state_dir: str | Path | None = None,
        throttle: ThrottleLimits | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        roles: dict[str, Any] | None = None,
        admin_port: int | None = None,
        event_webhook: str | None = None,
        throttle_clock: Callable[[], float] | None = None,
        fault_kinds: Sequence[str] | str | None = None,
    ) -> None:
        """``fault_kinds``: the mix ``fault_rate`` draws from, e.g. ``["429", "500", "503",
        "drop", "drop_after_write"]`` (default: all but ``drop_after_write``)."""
        self.event_webhook = event_webhook
        specs = [VaultSpec(v) if isinstance(v, str) else v for v in vaults]
        self.server = EmulatorServer(
            specs,
            state_dir=Path(state_dir) if state_dir is not None else None,
            throttle=throttle,
            fault_rate=fault_rate,
            seed=seed,
            roles=roles,
            admin_port=admin_port,
            throttle_clock=throttle_clock,
            fault_kinds=fault_kinds,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Emulator:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="kv-emulator", daemon=True)
        self._thread.start()
        self._call(self.server.start())
        if self.event_webhook:
            self.subscribe_events(self.event_webhook)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        try:
            self._call(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None
            if self.server.state_dir is None and self.server.tls is not None:
                shutil.rmtree(self.server.tls.ca_cert.parent, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        assert self._loop is not None, "the emulator is not running"
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    # ---- where things are --------------------------------------------------------------------
    @property
    def ca_cert(self) -> str:
        assert self.server.tls is not None, "the emulator is not running"
        return str(self.server.tls.ca_cert)

    @property
    def vaults(self) -> dict[str, VaultInfo]:
        return {
            name: VaultInfo(name, v.url, self.ca_cert, v.spec.geography)
            for name, v in self.server.vaults.items()
        }

    def url(self, vault: str | None = None) -> str:
        return self.server.vault(vault or self._first).url

    @property
    def admin_url(self) -> str | None:
        port = self.server.admin_port
        return f"https://127.0.0.1:{port}/_emulator/" if port else None

    @property
    def _first(self) -> str:
        return next(iter(self.server.vaults))

    @property
    def clock(self) -> EmulatorClock:
        """The clock every vault shares (``now()``); move it with :meth:`advance`."""
        return self.server.clock

    def advance(self, seconds: float) -> datetime:
        """Advance the shared clock on the emulator's loop (as ``POST /_emulator/clock`` does):
        every action due on the way has run when this returns; answers the new time."""

        async def advance() -> datetime:
            return self.server.clock.advance(seconds)

        return self._call(advance())  # type: ignore[no-any-return]

    def store(self, vault: str | None = None) -> VaultStore:
        """The vault's state, for assertions that the API cannot make (hold ``store.lock``)."""
        return self.server.vault(vault or self._first).store

    # ---- SDK clients (keyword arguments pass through to the client) -------------------------
    def _kw(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**client_kwargs(self.ca_cert), **kwargs}

    def _aio_kw(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**aio_client_kwargs(self.ca_cert), **kwargs}

    def secret_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> SecretClient:
        return SecretClient(self.url(vault), FakeCredential(token), **self._kw(kw))

    def key_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> KeyClient:
        return KeyClient(self.url(vault), FakeCredential(token), **self._kw(kw))

    def certificate_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> CertificateClient:
        return CertificateClient(self.url(vault), FakeCredential(token), **self._kw(kw))

    def crypto_client(
        self, key_id: str, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> CryptographyClient:
        return CryptographyClient(key_id, FakeCredential(token), **self._kw(kw))

    def aio_secret_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> AioSecretClient:
        return AioSecretClient(self.url(vault), AsyncFakeCredential(token), **self._aio_kw(kw))

    def aio_key_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> AioKeyClient:
        return AioKeyClient(self.url(vault), AsyncFakeCredential(token), **self._aio_kw(kw))

    def aio_certificate_client(
        self, vault: str | None = None, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> AioCertificateClient:
        return AioCertificateClient(self.url(vault), AsyncFakeCredential(token), **self._aio_kw(kw))

    def aio_crypto_client(
        self, key_id: str, *, token: str = DEFAULT_TOKEN, **kw: Any
    ) -> AioCryptographyClient:
        return AioCryptographyClient(key_id, AsyncFakeCredential(token), **self._aio_kw(kw))

    # ---- admin (the same operations as /_emulator/) ------------------------------------------
    def stats(self, vault: str | None = None) -> dict[str, Any]:
        """``{"since", "total", "operations": {op: {status: n}}, "faults": {kind: n}}``."""
        return self.server.stats(vault or self._first)

    def count(self, vault: str | None, op: str, status: int | None = None) -> int:
        """How many ``op`` requests (with ``status``, or any) the vault answered."""
        by_status = self.stats(vault)["operations"].get(op, {})
        if status is None:
            return sum(by_status.values())
        return int(by_status.get(str(status), 0))

    def reset_stats(self, vault: str | None = None) -> None:
        self.server.reset_stats(vault or self._first)

    def down(self, vault: str | None = None, mode: DownMode | str = DownMode.REFUSE) -> None:
        self._call(self.server.set_down(vault or self._first, mode))

    def up(self, vault: str | None = None) -> None:
        self._call(self.server.set_up(vault or self._first))

    def down_after_writes(self, vault: str, count: int, mode: DownMode | str = DownMode.REFUSE,
                          *, prefix: str = "", watch: str | None = None) -> threading.Event:
        """Take ``vault`` down right after it (or the vault ``watch``) stores its ``count``-th
        new version of an item whose name starts with ``prefix``: the request that stored it is
        still answered, every later one meets the outage (an outage at a chosen point of a
        runbook, not a moment guessed with a sleep). Returns an event set once the vault is
        down; :meth:`up` ends the outage."""
        target = self.server.vault(vault)
        down_mode = DownMode(mode)
        done = threading.Event()
        seen = 0

        def observe(_vault: str, _kind: str, name: str, _version: str) -> None:
            nonlocal seen  # on the emulator's loop, inside the request that stored the version
            if done.is_set() or not name.lower().startswith(prefix.lower()):
                return
            seen += 1
            if seen < count:
                return
            target.down = down_mode  # requests on kept-alive connections are dropped from now
            if down_mode is DownMode.REFUSE and target.listener is not None:
                listener, target.listener = target.listener, None
                listener.close()  # new connections are refused; up() listens again
            done.set()

        self.server.vault(watch or vault).store.observers.append(observe)
        return done

    def set_fault_rate(self, vault: str | None, rate: float,
                       kinds: Sequence[str] | str | None = None) -> None:
        """Change the fault rate (and, given ``kinds``, the fault mix) of ``vault``."""
        self.server.set_fault_rate(vault or self._first, rate, kinds)

    def inject_fault(self, vault: str | None, kind: str, *, count: int = 1,
                     method: str | None = None, path: str | None = None) -> None:
        """Give the next ``count`` requests to ``vault`` matching ``method`` and a ``path``
        substring (e.g. ``"/secrets/db-password"``) the fault ``kind`` (``"429"``, ``"500"``,
        ``"503"``, ``"drop"``, ``"drop_after_write"`` — which only writes match), whatever the
        fault rate: one chosen request fails the same way on every run."""
        self.server.inject_fault(vault or self._first, kind, count=count, method=method,
                                 path=path)

    # ---- Event Grid (emulator/eventgrid.py) --------------------------------------------------
    def subscribe_events(self, url: str, vault: str | None = None, *, duplicate_rate: float = 0.0,
                         reorder: bool = False, seed: int = 0, wait: bool = True,
                         timeout: float = 30, **kw: Any) -> str:
        """Deliver Key Vault events (of ``vault``, or of every vault) to the webhook ``url``;
        with ``wait``, return once the validation handshake succeeded. Returns the id."""
        events = self.server.events

        async def subscribe() -> str:
            sub = events.subscribe(url, vault=vault, duplicate_rate=duplicate_rate,
                                   reorder=reorder, seed=seed, **kw)
            if wait:
                await events.wait_validated(sub, timeout)
            return sub.id

        return str(self._call(subscribe(), timeout + 5))

    def unsubscribe_events(self, sub_id: str) -> None:
        self._call(self.server.events.unsubscribe(sub_id))

    def emit_event(self, vault: str, event_type: str, name: str, version: str, **kw: Any
                   ) -> dict[str, Any] | None:
        """Inject an event, e.g. ``emit_event("east", "SecretNearExpiry", "db", version)``
        (``Microsoft.KeyVault.`` may be left out)."""
        short = event_type.removeprefix("Microsoft.KeyVault.")
        for object_type in ("Secret", "Key", "Certificate"):
            if short.startswith(object_type):
                change = short[len(object_type):]
                return self.server.events.publish(vault, object_type, name, version, change, **kw)
        raise ValueError(f"not a Key Vault item event type: {event_type!r}")

    def wait_events_delivered(self, timeout: float = 30) -> bool:
        """Wait until every event published so far is delivered or dead-lettered."""
        return bool(self._call(self.server.events.idle(timeout), timeout + 5))

    def event_subscriptions(self) -> list[dict[str, Any]]:
        """Each subscription's state and counters (delivered, attempts, dead_lettered, …)."""
        return self.server.events.snapshot()


# ---- pytest fixtures ---------------------------------------------------------------------------
SESSION_VAULTS = (
    VaultSpec("east", geography="us"),
    VaultSpec("west", geography="us"),
    VaultSpec("europe", geography="eu"),
)


@pytest.fixture(scope="session")
def kv_emulator() -> Iterator[Emulator]:
    """One emulator for the session: vaults ``east`` and ``west`` (geography ``us``) and
    ``europe`` (geography ``eu``). Tests share it: use unique object names."""
    with Emulator(SESSION_VAULTS) as emu:
        yield emu


@pytest.fixture
def kv_emulator_factory(tmp_path: Path) -> Iterator[Any]:
    """Start emulators with custom options; each is stopped after the test.

    ``emu = kv_emulator_factory(["a", "b"], throttle=ThrottleLimits(...))``
    """
    started: list[Emulator] = []

    def start(vaults: Sequence[str | VaultSpec] = ("vault",), **kwargs: Any) -> Emulator:
        emu = Emulator(vaults, **kwargs).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()
