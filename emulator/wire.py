"""JSON in and out of the emulator's HTTP handlers: responses, Key Vault error bodies, a
dropped connection, and request bodies read whole under the service's size limit."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge

from emulator.errors import ErrorCode, KvError, bad_parameter

MAX_BODY_BYTES = 256 * 1024


def json_response(status: int, body: Any, headers: dict[str, str] | None = None
                  ) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def error_response(err: KvError) -> web.Response:
    return json_response(err.status, err.body(), err.headers)


def drop(request: web.BaseRequest) -> web.Response:
    """Close the connection without answering (the client sees it reset)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=503)  # never reaches the client


async def _read_whole(request: web.BaseRequest) -> bytes | None:
    """The whole body, or None past ``MAX_BODY_BYTES``. One ``read(n)`` returns only what has
    arrived so far, so a body that comes in several TCP segments needs reading to the end."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(chunks)


async def read_json_body(request: web.BaseRequest) -> Any:
    """The request's JSON body (None when there is none); KvError 413 past the limit, 400 when
    it is not JSON."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise KvError(
            413,
            ErrorCode.REQUEST_TOO_LARGE,
            f"The request body exceeds the maximum of {MAX_BODY_BYTES} bytes.",
        )
    if not request.body_exists:
        return None
    try:
        raw = await _read_whole(request)
    except HTTPRequestEntityTooLarge as exc:
        raise KvError(413, ErrorCode.REQUEST_TOO_LARGE, "The request body is too big.") from exc
    if raw is None:
        raise KvError(
            413,
            ErrorCode.REQUEST_TOO_LARGE,
            f"The request body exceeds the maximum of {MAX_BODY_BYTES} bytes.",
        )
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_parameter("The request body is not valid JSON.") from exc
