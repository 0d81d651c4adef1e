"""Shared by the HTTP runbook tests: the emulator and the real function app on a LocalHost,
and one JSON call against it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azure.durable_functions.models.utils import http_utils

import function_app
from engine.host import LocalHost
from support.sync import US_PAIR, SyncEnv, start_env


def hosted_app(tmp_path: Path) -> Iterator[tuple[SyncEnv, LocalHost]]:
    """east (primary) and west in the emulator, the runtime installed, the app on a LocalHost
    (its own engine; the env's engine is stopped). Use as ``yield from`` in a fixture."""
    gen = start_env(tmp_path, US_PAIR)
    env = next(gen)
    env.engine.stop()  # the host runs its own engine on another directory
    # the Durable client keeps one aiohttp session per process, bound to the event loop of
    # the host that created it; each LocalHost runs a new loop
    http_utils._client_session = None

    with LocalHost(function_app.app, state_dir=tmp_path / "host", port=0) as host:
        yield env, host
    gen.close()


def call(host: LocalHost, method: str, path: str, body: Any = None, raw: bytes | None = None
         ) -> tuple[int, Any]:
    """``(status, parsed JSON body or None)``; HTTP errors are returned, not raised."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(host.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None
