"""Helpers for the emulator conformance suite: unique names and a raw HTTPS session."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from emulator.testing import Emulator


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A vault-legal object name unique to this test."""
    base = re.sub(r"[^0-9a-zA-Z-]", "-", request.node.name)[:60]
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def raw(kv_emulator: Emulator) -> Iterator[Callable[..., requests.Response]]:
    """Send a hand-made request to a vault of the session emulator (bearer token included)."""
    session = requests.Session()
    session.verify = kv_emulator.ca_cert

    def send(
        method: str,
        path: str,
        *,
        vault: str = "east",
        token: str | None = "emulator",
        **kwargs: object,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = kv_emulator.url(vault).rstrip("/") + path
        return session.request(  # type: ignore[arg-type]
            method, url, headers=headers, timeout=10, verify=kv_emulator.ca_cert, **kwargs
        )

    yield send
    session.close()
