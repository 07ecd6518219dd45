"""The graceful drain of a serving process: what happens between a SIGTERM and the stop.

``Drain.begin`` (called by ``server.GracefulServer`` on the first SIGINT/SIGTERM) turns the
app away from new work and asks the open work to finish; ``DrainMiddleware``, the
outermost ASGI layer, does both:

- a new HTTP request is answered 503 with the error shape (``shutting_down``) and
  ``Connection: close``; ``/health`` still answers, since the process is alive;
- a new WebSocket handshake is refused with the same 503 (the MT5 client retries a 5xx
  handshake; a 403 would read as a refused key);
- an open WebSocket's pending ``receive`` returns ``websocket.disconnect`` with code 1012,
  the signal uvicorn itself gives the app at shutdown, but with the connection still open:
  the route answers the frames it has already read (``/ws/ticks`` validates, stores and
  acks them), may send a last frame, and closes. A route that returns without closing is
  closed here with 1012 (service restart), so every client reconnects.

``wait_idle`` returns once no request or connection is open, or at the deadline:
``grace_s`` after ``begin``, which also bounds the stop that follows (``remaining_s``).
The hot path pays nothing for this: a receive records its task and is cancelled only by
``begin`` (a frame not yet read is never acked, so the client resends it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainflow.core.logging import get_logger

log = get_logger("chainflow.runtime.drain")

CLOSE_SERVICE_RESTART = 1012  # RFC 6455: the server restarts, the client should reconnect
DRAIN_ERROR_CODE = "shutting_down"
DRAIN_CLOSE_REASON = "server shutting down; reconnect"
DRAIN_MESSAGE = "the server is shutting down; retry in a moment (another instance may answer)"
RETRY_AFTER_S = 1
LIVENESS_PATH = "/health"
FLUSH_POLL_S = 0.02  # how often ``wait_until_empty`` looks at the queues


@dataclass(eq=False, slots=True)
class _Connection:
    """One open WebSocket as the drain sees it."""

    receiver: asyncio.Task[object] | None = None
    interrupted: bool = False
    closed: bool = False


class Drain:
    """The drain state of one serving process: open work, and the deadline once begun."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._started_at: float | None = None
        self._requests = 0
        self._websockets: set[_Connection] = set()
        self._idle: asyncio.Event | None = None

    @property
    def draining(self) -> bool:
        return self._started_at is not None

    @property
    def open_requests(self) -> int:
        return self._requests

    @property
    def open_websockets(self) -> int:
        return len(self._websockets)

    def elapsed_s(self) -> float:
        """Seconds since ``begin`` (0 before it)."""
        return 0.0 if self._started_at is None else time.monotonic() - self._started_at

    def remaining_s(self) -> float:
        """Seconds left of the grace period (all of it before ``begin``)."""
        return max(0.0, self.grace_s - self.elapsed_s())

    def begin(self) -> None:
        """Refuse new work and ask every open WebSocket to finish; idempotent."""
        if self._started_at is not None:
            return
        self._started_at = time.monotonic()
        log.info(
            "shutdown_draining",
            grace_s=self.grace_s,
            open_websockets=len(self._websockets),
            open_requests=self._requests,
        )
        for connection in self._websockets:
            _interrupt(connection)

    async def wait_idle(self) -> bool:
        """Wait until nothing is open or the grace period ends; return whether idle."""
        self._idle = self._idle or asyncio.Event()
        self._check_idle()
        try:
            async with asyncio.timeout(self.remaining_s()):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _enter_request(self) -> None:
        self._requests += 1

    def _leave_request(self) -> None:
        self._requests -= 1
        self._check_idle()

    def _open(self, connection: _Connection) -> None:
        self._websockets.add(connection)

    def _close(self, connection: _Connection) -> None:
        self._websockets.discard(connection)
        self._check_idle()

    def _check_idle(self) -> None:
        if self._idle is not None and not self._websockets and self._requests == 0:
            self._idle.set()


async def wait_until_empty(depth: Callable[[], Mapping[str, int]], timeout_s: float) -> bool:
    """Wait until every queue ``depth`` reports is empty twice in a row (a handler running
    between two looks would have published the next stage's message by then); return
    whether it happened within ``timeout_s``.

    For the in-process bus: bar closes, feature rebuilds and notifications each publish
    the next stage, so they flush in order. A broker-backed bus reports no depth and
    returns at once: its durable consumers resume from the broker after a restart.
    """
    settled = 0
    try:
        async with asyncio.timeout(timeout_s):
            while settled < 2:
                settled = settled + 1 if not any(depth().values()) else 0
                if settled < 2:
                    await asyncio.sleep(FLUSH_POLL_S)
    except TimeoutError:
        log.warning("shutdown_flush_incomplete", waiting=dict(depth()))
        return False
    return True


def _interrupt(connection: _Connection) -> None:
    """End the connection's reading: its pending receive returns a 1012 disconnect."""
    connection.interrupted = True
    receiver = connection.receiver
    if receiver is not None and not receiver.done():
        receiver.cancel()


class DrainMiddleware:
    """Refuse new work while ``drain`` is draining; let open WebSockets finish (see module)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:  # lifespan
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.drain.draining and scope.get("path") != LIVENESS_PATH:
            await _refuse(send, "http.response.start", "http.response.body")
            return
        self.drain._enter_request()
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain._leave_request()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.drain.draining:
            await _refuse_handshake(scope, receive, send)
            return
        connection = _Connection()

        async def receive_until_drained() -> Message:
            if connection.interrupted:
                return _service_restart()
            task = asyncio.current_task()
            connection.receiver = task
            try:
                return await receive()
            except asyncio.CancelledError:
                if connection.interrupted and task is not None and task.uncancel() == 0:
                    return _service_restart()  # cancelled by the drain, not by the app
                raise
            finally:
                connection.receiver = None

        async def tracked_send(message: Message) -> None:
            if message["type"] in ("websocket.close", "websocket.http.response.start"):
                connection.closed = True
            await send(message)

        self.drain._open(connection)
        try:
            await self.app(scope, receive_until_drained, tracked_send)
            if connection.interrupted and not connection.closed:
                connection.closed = True
                await _close_quietly(send)
        finally:
            self.drain._close(connection)


def _service_restart() -> Message:
    return {"type": "websocket.disconnect", "code": CLOSE_SERVICE_RESTART}


def _error_body() -> bytes:
    details = {"retry_after_s": RETRY_AFTER_S}
    return orjson.dumps(
        {"error": {"code": DRAIN_ERROR_CODE, "message": DRAIN_MESSAGE, "details": details}}
    )


async def _refuse(send: Send, start: str, body: str) -> None:
    payload = _error_body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": start, "status": 503, "headers": headers})
    await send({"type": body, "body": payload, "more_body": False})


async def _refuse_handshake(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a WebSocket handshake with 503 (or, without the ASGI denial-response
    extension, accept and close with 1012): either way the client retries later."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await _refuse(send, "websocket.http.response.start", "websocket.http.response.body")
        return
    await send({"type": "websocket.accept"})
    await _close_quietly(send)


async def _close_quietly(send: Send) -> None:
    close = {"type": "websocket.close", "code": CLOSE_SERVICE_RESTART}
    try:
        await send({**close, "reason": DRAIN_CLOSE_REASON})
    except (OSError, RuntimeError):
        pass  # the client is already gone
