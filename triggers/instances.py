"""Every Durable instance matching a query, page after page.

The Python SDK's ``get_status_by`` sends one request and returns its page: the extension's
management API answers at most ``top`` instances (a default page otherwise) and names the next
page in the ``x-ms-continuation-token`` response header, which the SDK drops. With more active
runbooks (and their sub-orchestrations) than a page, a starter would then miss a running
failover and start a second one. This follows the tokens to the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.RpcManagementOptions import RpcManagementOptions

CONTINUATION_HEADER = "x-ms-continuation-token"
# an older extension's way of saying "no more pages": base64 of the JSON text null
_NULL_TOKENS = {"", "bnVsbA=="}
MAX_PAGES = 10_000  # a guard against a token that never ends, far above any real hub


class InstanceQueryError(RuntimeError):
    """The management API refused or failed a listing."""


async def statuses_by(client: df.DurableOrchestrationClient,
                      runtime_status: Iterable[df.OrchestrationRuntimeStatus] | None = None,
                      instance_id_prefix: str | None = None
                      ) -> list[DurableOrchestrationStatus]:
    """``client.get_status_by(...)`` over every page, in the order the API lists them."""
    statuses = list(runtime_status) if runtime_status is not None else None
    base = getattr(getattr(client, "_orchestration_bindings", None), "rpc_base_url", None)
    if not base:  # a client without a management endpoint to page through: ask it directly
        return list(await client.get_status_by(runtime_status=statuses))
    url = RpcManagementOptions(runtime_status=statuses,
                               instance_id_prefix=instance_id_prefix).to_url(base)
    found: list[DurableOrchestrationStatus] = []
    token: str | None = None
    async with aiohttp.ClientSession() as session:
        for _ in range(MAX_PAGES):
            headers = {CONTINUATION_HEADER: token} if token else {}
            page, token = await _page(session, url, headers)
            found.extend(DurableOrchestrationStatus.from_json(item) for item in page)
            if token is None or token in _NULL_TOKENS:
                return found
    raise InstanceQueryError(f"listing instances did not end after {MAX_PAGES} pages")


async def _page(session: aiohttp.ClientSession, url: str, headers: dict[str, str]
                ) -> tuple[list[Any], str | None]:
    async with session.get(url, headers=headers) as response:
        if response.status != 200:
            raise InstanceQueryError(
                f"listing instances failed with HTTP {response.status}")
        body = await response.json(content_type=None)
        return list(body or []), response.headers.get(CONTINUATION_HEADER)
