"""The management API lists instances a page at a time, as the Durable extension does: at most
``top`` (or the default page), the next page named by ``x-ms-continuation-token``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.host import LocalHost
from engine.management_api import CONTINUATION_HEADER
from support import sample_app


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    with LocalHost(sample_app.app, state_dir=tmp_path / "state", port=0) as running:
        yield running


def _get(host: LocalHost, query: str, token: str | None = None) -> tuple[int, object, str | None]:
    headers = {CONTINUATION_HEADER: token} if token else {}
    request = urllib.request.Request(f"{host.base_url}/durabletask/instances/?{query}",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (response.status, json.loads(response.read()),
                    response.headers.get(CONTINUATION_HEADER))
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), None


def test_instances_are_listed_page_by_page_until_no_token_is_returned(host: LocalHost) -> None:
    ids = {host.engine.start_new("approval", instance_id=f"wait-{i}") for i in range(7)}
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        status, page, token = _get(host, "top=3", token)
        assert status == 200
        assert isinstance(page, list)
        seen += [item["instanceId"] for item in page]
        sizes.append(len(page))
        if token is None:
            break
    assert sizes == [3, 3, 1]
    assert sorted(seen) == sorted(ids)


def test_without_top_the_default_page_size_applies(host: LocalHost) -> None:
    host.management.page_size = 4
    for i in range(5):
        host.engine.start_new("approval", instance_id=f"wait-{i}")
    status, page, token = _get(host, "")
    assert status == 200 and isinstance(page, list) and len(page) == 4 and token


@pytest.mark.parametrize(("query", "token"), [
    ("top=0", None), ("top=-1", None), ("top=many", None),
    ("", "not base64!"), ("", "eyJvZmZzZXQiOiAtMX0="),  # {"offset": -1}
])
def test_a_bad_top_or_continuation_token_is_400(host: LocalHost, query: str,
                                                token: str | None) -> None:
    status, body, _ = _get(host, query, token)
    assert status == 400
    assert isinstance(body, dict) and body["error"]
