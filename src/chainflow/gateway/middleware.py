"""Pure-ASGI middleware: request id, log context, metrics per route template."""

from __future__ import annotations

import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainflow.core.ids import new_id
from chainflow.core.logging import bind_request_context, clear_request_context
from chainflow.gateway.metrics import HttpMetrics

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._\-]{1,128}$")


class RequestContextMiddleware:
    """Give each request an id (kept from ``X-Request-ID`` when valid), bind it to logs,
    echo it in the response, and record count and latency per route template."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, service: str = "gateway") -> None:
        self.app = app
        self.metrics = metrics
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        clear_request_context()
        bind_request_context(request_id=request_id, service=self.service)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        status_code = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.observe(
                scope["method"], _route_template(scope), status_code, time.perf_counter() - started
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return value.decode()
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        # Unmatched paths collapse into one label so that scanners cannot explode cardinality.
        return "<unmatched>"
    # FastAPI keeps an included router's routes relative to the include prefix; restore the
    # prefix from the request path (a route template has as many segments as its match).
    path: str = scope.get("path", "")
    template_segments = template.strip("/").split("/") if template.strip("/") else []
    path_segments = path.strip("/").split("/") if path.strip("/") else []
    extra = len(path_segments) - len(template_segments)
    if extra <= 0 or ":path}" in template:
        return template
    return "/" + "/".join(path_segments[:extra] + template_segments)
