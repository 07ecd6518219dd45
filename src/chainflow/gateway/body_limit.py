"""Bound every HTTP request body before anything parses it.

``BodyLimitMiddleware`` refuses a body larger than its route's limit with 413
``body_too_large``: at once when ``Content-Length`` declares more, without reading a byte;
otherwise as soon as the chunks received add up to more (chunked bodies, or a
``Content-Length`` that lies). The 413 carries ``Connection: close``, so the server drops
the connection instead of draining the rest of the upload.

A body within its limit is read whole (at most the limit, which FastAPI would buffer anyway)
and handed to the app unchanged. A JSON body nested deeper than ``max_json_depth`` is refused
with 422 ``invalid_schema`` before the JSON decoder, which recurses once per level, sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainflow.core.errors import ChainflowError
from chainflow.gateway.errors import BodyTooLargeError, JSONTooDeepError
from chainflow.gateway.json_depth import exceeds_json_depth

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The body size limit of each path (the longest matching prefix wins) and JSON depth."""

    default_bytes: int = DEFAULT_MAX_BODY_BYTES
    by_path_prefix: Mapping[str, int] = field(default_factory=dict)
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def for_path(self, path: str) -> int:
        """Return the largest body, in bytes, that a request to ``path`` may carry."""
        best_length, limit = -1, self.default_bytes
        for prefix, prefix_limit in self.by_path_prefix.items():
            base = prefix.rstrip("/")
            matches = path == base or path.startswith(base + "/")
            if matches and len(base) > best_length:
                best_length, limit = len(base), prefix_limit
        return limit


class BodyLimitMiddleware:
    """Refuse oversized or too deeply nested request bodies before the app reads them."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limits.for_path(scope["path"])
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            await _refuse(_too_large(limit, f"a Content-Length of {declared} bytes"), send)
            return
        chunks: list[bytes] = []
        received = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its whole body
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _refuse(_too_large(limit, f"more than {limit} bytes"), send)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        if _is_json(headers) and exceeds_json_depth(body, self.limits.max_json_depth):
            depth = self.limits.max_json_depth
            error = JSONTooDeepError(
                f"expected a JSON body nested at most {depth} levels deep; received deeper "
                "nesting (or unbalanced brackets)",
                details={"max_depth": depth},
            )
            await _refuse(error, send, close=False)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def receive_buffered() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_buffered


def _too_large(limit: int, received: str) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"expected a request body of at most {limit} bytes; received {received}",
        details={"max_bytes": limit},
    )


async def _refuse(error: ChainflowError, send: Send, *, close: bool = True) -> None:
    headers = {"Connection": "close"} if close else None
    response = JSONResponse(error.to_payload(), status_code=error.status, headers=headers)
    start = {"type": "http.response.start", "status": error.status}
    await send({**start, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _is_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    main, _, subtype = media_type.partition("/")
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))
