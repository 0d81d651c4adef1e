"""The HTTPS server: one listener per vault in one asyncio loop, auth, faults, throttling,
dispatch to the object handlers, and the ``/_emulator/`` admin surface."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import authorization, routes
from emulator.certificate_lifetime import CertificateLifetime
from emulator.clock import EmulatorClock, iso
from emulator.context import Ctx
from emulator.errors import ErrorCode, KvError, bad_parameter, throttled
from emulator.eventgrid import EventGridPublisher
from emulator.expiry import ExpiryEvents
from emulator.faults import Fault, FaultSchedule
from emulator.key_rotation import KeyRotationSource
from emulator.store import VaultStore
from emulator.throttle import Throttle, ThrottleLimits
from emulator.tls import TlsFiles, ensure_tls

# callers (the CLI, tests, benchmarks) also import VaultSpec and DownMode from here, beside
# EmulatorServer
from emulator.vaults import (
    HOST,
    DownMode,
    Vault,
    VaultSpec,
    find_vault,
)
from emulator.wire import drop, error_response, json_response, read_json_body

log = logging.getLogger("emulator")

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
    'resource="https://vault.azure.net"'
)
ADMIN_PREFIX = "/_emulator/"


class EmulatorServer:
    """All vaults of one emulator, served from the running asyncio loop."""

    def __init__(
        self,
        vaults: list[VaultSpec],
        *,
        state_dir: Path | None = None,
        throttle: ThrottleLimits | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        roles: dict[str, Any] | None = None,
        admin_port: int | None = None,
        throttle_clock: Callable[[], float] | None = None,
        fault_kinds: Iterable[str] | str | None = None,
    ) -> None:
        """``throttle_clock`` (seconds, monotonic) times the throttle windows; tests pass one
        they advance themselves. ``fault_kinds`` is the mix faults are drawn from
        (emulator/faults.py; default 429, 500, 503, drop). ``roles``: token -> ``"read"`` |
        ``"full"`` or a per-vault ``{"vault": "read" | "full"}`` (emulator/authorization.py)."""
        names = [v.name for v in vaults]
        if len(set(names)) != len(names) or not names:
            raise ValueError("give at least one vault, each with a distinct name")
        self.state_dir = state_dir
        self.roles = authorization.parse_roles(roles) if roles is not None else None
        self.admin_port = admin_port
        self._tls_dir = state_dir / "tls" if state_dir else Path(tempfile.mkdtemp(prefix="kvem-"))
        self.tls: TlsFiles | None = None
        self.vaults: dict[str, Vault] = {}
        # the one clock of every vault here (emulator/clock.py); only the admin API moves it
        self.clock = EmulatorClock()
        for i, spec in enumerate(vaults):
            journal = state_dir / "vaults" / f"{spec.name}.jsonl" if state_dir else None
            if journal is not None:
                journal.parent.mkdir(parents=True, exist_ok=True)
            self.vaults[spec.name] = Vault(
                spec,
                VaultStore(spec.name, spec.geography, journal),
                Throttle(throttle, throttle_clock) if throttle else None,
                FaultSchedule(fault_rate, seed + i, fault_kinds),
            )
        # Event Grid webhooks (emulator/eventgrid.py)
        self.events = EventGridPublisher(self.vaults, self.clock)
        # what the clock sets off: expiry events and key rotation (emulator/expiry.py,
        # emulator/key_rotation.py)
        self.clock.register(ExpiryEvents(self.vaults, self.events))
        self.clock.register(KeyRotationSource(self.vaults))
        # certificate lifetime actions (AutoRenew, EmailContacts) come due on the clock
        self.lifetime = CertificateLifetime(self.vaults, self.events)
        self.clock.register(self.lifetime)
        self._servers: list[web.Server] = []
        self._admin_listener: asyncio.AbstractServer | None = None
        self._ssl: ssl.SSLContext | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.tls = ensure_tls(self._tls_dir)
        self._ssl = self.tls.server_context()
        await self.events.start()
        for vault in self.vaults.values():
            await self._listen(vault)
        if self.admin_port is not None:
            await self.ensure_admin_port()

    async def stop(self) -> None:
        await self.events.stop()
        listeners = [v.listener for v in self.vaults.values()] + [self._admin_listener]
        for listener in listeners:
            if listener is not None:
                listener.close()
        for server in self._servers:
            await server.shutdown(1.0)
        for vault in self.vaults.values():
            vault.listener = None
            vault.store.close()

    def _web_server(
        self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> web.Server:
        server = web.Server(handler, access_log=None, handler_cancellation=True)
        self._servers.append(server)
        return server

    async def _bind(self, server: web.Server, port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            server, HOST, port, ssl=self._ssl, reuse_address=True, backlog=512
        )

    async def _listen(self, vault: Vault) -> None:
        if vault.server is None:
            vault.server = self._web_server(lambda request: self._handle(vault, request))
        vault.listener = await self._bind(vault.server, vault.port or vault.spec.port)
        vault.port = vault.listener.sockets[0].getsockname()[1]

    async def ensure_admin_port(self) -> int:
        """Serve the process-wide admin port (on ``admin_port``, or a free port) and return it."""
        if self._admin_listener is None:
            admin = self._web_server(self._handle_admin_port)
            self._admin_listener = await self._bind(admin, self.admin_port or 0)
            self.admin_port = int(self._admin_listener.sockets[0].getsockname()[1])
        assert self.admin_port is not None
        return self.admin_port

    def vault(self, name: str) -> Vault:
        return find_vault(self.vaults, name)

    # ---- admin operations (also served under /_emulator/) -------------------------------------
    def stats(self, name: str) -> dict[str, Any]:
        return self.vault(name).stats.snapshot()

    def reset_stats(self, name: str) -> None:
        self.vault(name).stats.reset()

    async def set_down(
        self, name: str, mode: DownMode | str, *, spare: object | None = None
    ) -> None:
        """Take ``name`` down; ``spare`` is a connection left to finish its answer (the one
        that asked, when asked on the vault's own port)."""
        vault = self.vault(name)
        vault.down = DownMode(mode)
        if vault.down is DownMode.REFUSE and vault.listener is not None:
            vault.listener.close()
            vault.listener = None
            # kept-alive connections go too, so clients see the refusal on their next request
            for connection in list(vault.server.connections if vault.server else ()):
                if connection is not spare:
                    connection.force_close()

    async def set_up(self, name: str) -> None:
        vault = self.vault(name)
        vault.down = None
        if vault.listener is None:
            await self._listen(vault)

    def set_fault_rate(self, name: str, rate: float,
                       kinds: Iterable[str] | str | None = None) -> None:
        """Change the rate (and, given ``kinds``, the mix) of ``name``'s faults."""
        faults = self.vault(name).faults
        if kinds is not None:
            faults.set_kinds(kinds)
        faults.set_rate(rate)

    def inject_fault(self, name: str, kind: str, *, count: int = 1, method: str | None = None,
                     path: str | None = None) -> None:
        """The next ``count`` matching requests to ``name`` get fault ``kind``."""
        self.vault(name).faults.inject(kind, count=count, method=method, path=path)

    # ---- request handling --------------------------------------------------------------------
    async def _handle(self, vault: Vault, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            return await self._admin(vault, request.method, path[len(ADMIN_PREFIX) :], request)
        if vault.down is DownMode.REFUSE:
            return drop(request)
        if vault.down is DownMode.HANG:  # a black hole: only the client's timeout ends it
            vault.stats.fault("hang")  # counted on arrival: each one is a client's attempt
            while vault.down is DownMode.HANG:
                await asyncio.sleep(0.05)
            return drop(request)
        segments = path.split("/")[1:]
        if segments and segments[-1] == "":
            segments.pop()
        route, args, known = routes.match(request.method, segments)
        op = route.op if route else "Unknown"
        try:
            response = await self._serve(vault, request, route, args, known)
        except KvError as err:
            response = error_response(err)
        except Exception:  # a bug must answer 500, never crash the server or hang the client
            log.exception("unhandled error serving %s %s", request.method, path)
            response = error_response(
                KvError(500, ErrorCode.INTERNAL_ERROR, "Internal server error."))
        vault.stats.count(op, response.status)
        return response

    async def _serve(
        self,
        vault: Vault,
        request: web.BaseRequest,
        route: routes.Route | None,
        args: list[str],
        known: bool,
    ) -> web.StreamResponse:
        if vault.down is DownMode.UNAVAILABLE:
            raise KvError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "The service is unavailable.",
                headers={"Retry-After": "1"},
            )
        self._authorize(vault, request, route)
        if route is None:
            if known:
                raise KvError(405, ErrorCode.METHOD_NOT_ALLOWED, "The method is not allowed.")
            raise KvError(404, ErrorCode.NOT_FOUND, f"No operation at {request.path}.")
        fault = vault.faults.next(request.method, request.path)
        if fault is Fault.DROP_AFTER_WRITE:  # applied, then the answer is lost
            vault.stats.fault(fault.value)
            try:
                response = await self._apply(vault, request, route, args)
            except KvError as err:
                response = error_response(err)
            drop(request)
            return response  # counted with its real status; it never reaches the client
        if fault is not None:
            vault.stats.fault(fault.value)
            if fault is Fault.DROP:
                return drop(request)
            if fault is Fault.THROTTLED:
                raise throttled(1)
            status = int(fault.value)
            raise KvError(
                status,
                ErrorCode.SERVICE_UNAVAILABLE if status == 503 else ErrorCode.INTERNAL_ERROR,
                "Injected fault.",
            )
        return await self._apply(vault, request, route, args)

    async def _apply(self, vault: Vault, request: web.BaseRequest, route: routes.Route,
                     args: list[str]) -> web.StreamResponse:
        """Throttle, then run the operation."""
        if vault.throttle is not None:
            retry_after = vault.throttle.admit(route.classes)
            if retry_after is not None:
                raise throttled(retry_after)
        body = await read_json_body(request)
        host = request.host
        ctx = Ctx(vault.store, f"https://{host}", body, request.query)
        with self.clock.active():
            status, payload = route.handler(ctx, *args, *route.fixed)
        return json_response(status, payload)

    def _authorize(self, vault: Vault, request: web.BaseRequest,
                   route: routes.Route | None) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise KvError(
                401,
                ErrorCode.UNAUTHORIZED,
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if self.roles is None:
            return
        grant = self.roles.get(token.strip())
        if grant is None:
            raise KvError(
                401,
                ErrorCode.UNAUTHORIZED,
                "AKV10032: Invalid issuer or token. The token is not known to this vault.",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        authorization.check(grant, vault=vault.name, geography=vault.spec.geography,
                            method=request.method, op=route.op if route else "Unknown",
                            collection=request.path.lstrip("/").partition("/")[0],
                            path=request.path)

    # ---- admin surface -----------------------------------------------------------------------
    async def _handle_admin_port(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if not path.startswith(ADMIN_PREFIX):
            message = "Use /_emulator/{vault}/..."
            return json_response(404, {"error": {"code": "NotFound", "message": message}})
        rest = path[len(ADMIN_PREFIX) :]
        if rest.rstrip("/") == "vaults" and self.tls is not None:
            return json_response(200, [v.info(self.tls.ca_cert) for v in self.vaults.values()])
        if rest.rstrip("/") == "clock":  # one clock for every vault
            return await self._admin_clock(request)
        if rest.rstrip("/") == "eventgrid":  # subscriptions for every vault
            return await self._admin_eventgrid(None, request)
        name, _, action = rest.partition("/")
        vault = self.vaults.get(name)
        if vault is None:
            message = f"No vault {name}."
            return json_response(404, {"error": {"code": "NotFound", "message": message}})
        return await self._admin(vault, request.method, action, request)

    async def _admin(
        self, vault: Vault, method: str, action: str, request: web.BaseRequest
    ) -> web.StreamResponse:
        action = action.rstrip("/")
        try:
            if method == "GET" and action == "stats":
                return json_response(200, self.stats(vault.name))
            if method == "POST" and action == "stats/reset":
                self.reset_stats(vault.name)
                return json_response(200, {"ok": True})
            if method == "POST" and action == "down":
                return await self._admin_down(vault, request)
            if method == "POST" and action == "up":
                await self.set_up(vault.name)
                return json_response(200, {"ok": True})
            if method == "POST" and action == "faults":
                body = await read_json_body(request)
                rate = body.get("rate") if isinstance(body, dict) else None
                kinds = body.get("kinds") if isinstance(body, dict) else None
                if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
                        kinds is None or isinstance(kinds, list | str)):
                    raise bad_parameter('Body must be {"rate": R} with 0 <= R <= 1 (and '
                                        'optionally "kinds": ["429", "drop_after_write", …]).')
                try:
                    self.set_fault_rate(vault.name, float(rate), kinds)
                except ValueError as exc:
                    raise bad_parameter(str(exc)) from exc
                return json_response(200, {"ok": True, "rate": rate})
            if action == "eventgrid":
                return await self._admin_eventgrid(vault.name, request)
            if action == "clock":
                return await self._admin_clock(request)
        except KvError as err:
            return error_response(err)
        message = f"No admin action {action}."
        return json_response(404, {"error": {"code": "NotFound", "message": message}})


    async def _admin_down(self, vault: Vault, request: web.BaseRequest) -> web.StreamResponse:
        """``{"mode": "refuse"|"503"}``. Refusing closes the vault's port, and with it the
        vault's own ``/_emulator/`` path, so the way back up is the process-wide admin port:
        opened here on a free port if it was not asked for, and named in ``admin_url``."""
        body = await read_json_body(request) or {}
        mode = body.get("mode", "refuse") if isinstance(body, dict) else None
        if mode not in (DownMode.REFUSE, DownMode.UNAVAILABLE):
            raise bad_parameter("mode must be 'refuse' or '503'.")
        answer: dict[str, Any] = {"ok": True, "down": mode}
        if mode == DownMode.REFUSE:
            had_admin_port = self._admin_listener is not None
            port = await self.ensure_admin_port()
            answer["admin_url"] = f"https://{HOST}:{port}{ADMIN_PREFIX}{vault.name}/"
            if not had_admin_port:
                log.warning("emulator: admin API at https://%s:%s%s", HOST, port, ADMIN_PREFIX)
        await self.set_down(vault.name, mode, spare=request.protocol)
        response = json_response(200, answer)
        response.force_close()  # the asking connection closes once answered
        return response

    async def _admin_clock(self, request: web.BaseRequest) -> web.StreamResponse:
        """``GET``: ``{"now"}``; ``POST {"advance_seconds": N}``: move the shared clock, running
        every action that comes due on the way (in time order) before answering."""
        try:
            if request.method == "POST":
                body = await read_json_body(request)
                seconds = body.get("advance_seconds") if isinstance(body, dict) else None
                try:
                    self.clock.advance(seconds)  # type: ignore[arg-type]
                except ValueError as exc:
                    raise bad_parameter(
                        f'Body must be {{"advance_seconds": N}} with N a number >= 0 ({exc}).'
                    ) from exc
            elif request.method != "GET":
                raise KvError(405, ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST.")
        except KvError as err:
            return error_response(err)
        return json_response(200, {"now": iso(self.clock.now())})

    async def _admin_eventgrid(self, vault: str | None, request: web.BaseRequest
                               ) -> web.StreamResponse:
        """``GET``: the subscriptions; ``POST {"url", "duplicate_rate", "reorder", "seed"}``:
        subscribe a webhook (to ``vault``'s events, or every vault's on the admin port)."""
        if request.method == "GET":
            return json_response(200, self.events.snapshot())
        if request.method != "POST":
            return error_response(KvError(405, ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST."))
        try:
            sub = self.events.subscribe_from_body(await read_json_body(request), vault)
        except KvError as err:
            return error_response(err)
        except (ValueError, KeyError) as exc:
            return error_response(bad_parameter(str(exc).strip("'\"")))
        return json_response(201, sub.snapshot())


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])
