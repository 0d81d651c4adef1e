"""Bounded request bodies for the local host, as the Functions host bounds them: a body over the
limit is answered 413 from its declared length or after reading just past the limit, never
buffered whole.

Limits (the platform's own):
- HTTP triggers and the admin API: the app setting ``FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`` (bytes),
  default 100 MiB (104,857,600), the Functions host's default.
- Event Grid deliveries: 1 MiB, Event Grid's own maximum for an event and for a batch.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

log = logging.getLogger("engine.host")

HTTP_BODY_LIMIT_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
DEFAULT_HTTP_BODY_LIMIT = 100 * 1024 * 1024
EVENT_GRID_BODY_LIMIT = 1024 * 1024
_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over ``limit`` bytes (nothing more of it is read)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the request body is larger than {limit} bytes")


def http_body_limit(environ: dict[str, str] | None = None) -> int:
    """The HTTP body limit from the app setting, else the Functions host's default; an
    unusable value falls back to the default (and says so), as a typo must not lift it."""
    raw = (os.environ if environ is None else environ).get(HTTP_BODY_LIMIT_SETTING, "").strip()
    if not raw:
        return DEFAULT_HTTP_BODY_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        log.warning("%s=%r is not a positive number of bytes; using %d", HTTP_BODY_LIMIT_SETTING,
                    raw, DEFAULT_HTTP_BODY_LIMIT)
        return DEFAULT_HTTP_BODY_LIMIT
    return limit


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is known to be over ``limit``:
    from Content-Length before reading anything, else once the chunks read pass it."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large_response(code: str, exc: BodyTooLarge) -> web.Response:
    """413 with a stable code, sent as soon as the limit is passed. aiohttp then discards what
    the sender still sends for at most its ``lingering_time`` (the host sets 1 s), so that
    the sender can read the answer, and closes the connection; nothing more is buffered."""
    return web.json_response({"error": {"code": code, "message": f"{exc}; send a smaller one"}},
                             status=413, headers={"Connection": "close"})
