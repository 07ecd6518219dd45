"""``WS /ws/stream``: a browser (JWT) subscribes per symbol to its tenant's ticks and bars
(and the frames of ``frame_topics``, e.g. the trading engine's signals).

Messages come from the bus (live subscriptions: ``bridge.ticks.<tenant>.<symbol>`` and
``bridge.bars.*.<tenant>.<symbol>.*``, any partition), so this works in any process,
whichever one ingests.
Each connection has a bounded queue and one sender; a consumer that cannot keep up within
``SEND_TIMEOUT_S`` (or lets its queue fill) is disconnected, never allowed to back up the
fan-out. Connections live at most the limiter's ``max_connection_lifetime_s``.

Every client message gets an answer and the connection stays open: a binary, oversized,
too deeply nested or malformed message is answered ``invalid_schema`` (``ws_messages``), and
a failure while handling one is answered by the ``MessageGuard``.

``tenant_feeds`` are per-tenant subjects (e.g. the analytics service's ``dashboard``
frames) followed from the connection's start, whose frames are *coalesced*: of each frame
``type`` at most one waits in the queue, and a newer one replaces it there, so a slow
client gets the latest state, never a backlog. A feed's ``current`` subject, if any, is
asked (request/reply, body = tenant id) for the latest frame when the connection opens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from chainflow.bridge.events import TicksAccepted, bars_of_symbol, ticks_of_symbol
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.tick_message import Rejection
from chainflow.bridge.ws_messages import (
    MAX_FRAME_CHARS,
    StreamRequest,
    decode_frame,
    validate_message,
)
from chainflow.core.auth import Permission
from chainflow.core.errors import ChainflowError, TierLimitExceeded
from chainflow.core.ids import new_id
from chainflow.gateway.api import websocket_principal
from chainflow.hub.api import BusMessage, EventBus, Subscription

QUEUE_SIZE = 1000
SEND_TIMEOUT_S = 2.0
CLOSE_AUTH_FAILED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TIER_LIMIT = 4008
CLOSE_SLOW_CONSUMER = 4011


FrameTopic = Callable[[str, str], str]
"""(tenant, symbol) -> a subject whose messages are whole frames (JSON with a ``type``), e.g.
the trading engine's signals; the runtime passes them in, the bridge knows no higher layer."""

FEED_REQUEST_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class TenantFeed:
    """A per-tenant subject of whole frames where only the latest of each type matters."""

    topic: Callable[[str], str]
    current: str | None = None


class StreamConnection:
    """One browser's subscriptions and its bounded outbound queue."""

    def __init__(
        self,
        websocket: WebSocket,
        bus: EventBus,
        tenant_id: str,
        max_symbols: int,
        frame_topics: Sequence[FrameTopic] = (),
        tenant_feeds: Sequence[TenantFeed] = (),
    ):
        self._frame_topics = tuple(frame_topics)
        self._tenant_feeds = tuple(tenant_feeds)
        self._feed_subscriptions: list[Subscription] = []
        self._latest: dict[str, dict[str, Any]] = {}
        self._websocket = websocket
        self._bus = bus
        self._tenant_id = tenant_id
        self._max_symbols = max_symbols
        self._subscriptions: dict[str, list[Subscription]] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    async def handle(self, raw: str, normalizer: SymbolNormalizer) -> dict[str, Any]:
        """Apply one client message; return the frame that answers it."""
        message = decode_frame(raw)
        if isinstance(message, Rejection):
            return _error(message.code.value, message.message)
        request = validate_message(StreamRequest, message)
        if isinstance(request, Rejection):
            return _error(request.code.value, request.message)
        names = [normalizer.normalize(s) for s in request.symbols]
        if None in names:
            refused = [s for s, n in zip(request.symbols, names, strict=True) if n is None]
            return _error(
                "invalid_symbol", f"expected symbols such as EURUSD; received {refused[0][:40]!r}"
            )
        kind = request.type
        if kind == "subscribe":
            wanted = [n for n in names if n is not None and n not in self._subscriptions]
            if len(self._subscriptions) + len(wanted) > self._max_symbols:
                return _error(
                    "symbol_limit",
                    f"the tier streams at most {self._max_symbols} symbols; "
                    f"received a request for {len(self._subscriptions) + len(wanted)}",
                )
            for name in wanted:
                self._subscriptions[name] = [
                    await self._bus.subscribe(
                        ticks_of_symbol(self._tenant_id, name), self._on_ticks
                    ),
                    await self._bus.subscribe(bars_of_symbol(self._tenant_id, name), self._on_bar),
                    *[
                        await self._bus.subscribe(subject(self._tenant_id, name), self._on_frame)
                        for subject in self._frame_topics
                    ],
                ]
        else:
            for dropped in names:
                for subscription in self._subscriptions.pop(str(dropped), []):
                    await subscription.unsubscribe()
        return {"type": "subscribed", "symbols": sorted(self._subscriptions)}

    async def follow_tenant_feeds(self) -> None:
        """Subscribe to the tenant's feeds and queue each feed's current frame."""
        for feed in self._tenant_feeds:
            subject = feed.topic(self._tenant_id)
            self._feed_subscriptions.append(await self._bus.subscribe(subject, self._on_latest))
            if feed.current is None:
                continue
            try:
                data = await self._bus.request(
                    feed.current, self._tenant_id.encode(), timeout_s=FEED_REQUEST_TIMEOUT_S
                )
            except ChainflowError:  # nobody serves it (yet): the next published frame comes
                continue
            if data:
                self._offer_latest(json.loads(data))

    async def close(self) -> None:
        for subscription in self._feed_subscriptions:
            await subscription.unsubscribe()
        self._feed_subscriptions.clear()
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                await subscription.unsubscribe()
        self._subscriptions.clear()

    async def _on_ticks(self, message: BusMessage) -> None:
        event = TicksAccepted.from_json(message.data)
        ticks = [
            {"ts": ts, "bid": bid, "ask": ask, "volume": volume}
            for ts, bid, ask, volume, late, _seq in event.ticks
            if not late
        ]
        if ticks:
            self.offer({"type": "ticks", "symbol": event.symbol, "ticks": ticks})

    async def _on_bar(self, message: BusMessage) -> None:
        bar = json.loads(message.data)
        bar.pop("tenant_id", None)
        self.offer({"type": "bar", **bar})

    async def _on_frame(self, message: BusMessage) -> None:
        frame = json.loads(message.data)
        if isinstance(frame, dict) and isinstance(frame.get("type"), str):
            frame.pop("tenant_id", None)
            self.offer(frame)

    async def _on_latest(self, message: BusMessage) -> None:
        self._offer_latest(json.loads(message.data))

    def _offer_latest(self, frame: Any) -> None:
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return
        frame.pop("tenant_id", None)
        waiting = self._latest.get(frame["type"])
        if waiting is not None:  # not sent yet: the newer state takes its place
            waiting.clear()
            waiting.update(frame)
            return
        self._latest[frame["type"]] = frame
        self.offer(frame)

    def taken(self, frame: dict[str, Any]) -> None:
        """Note that the sender took ``frame``: a newer frame of its type queues anew."""
        if self._latest.get(frame.get("type", "")) is frame:
            del self._latest[frame["type"]]

    def offer(self, frame: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True


def build_stream_router(
    *,
    bus: EventBus,
    frame_topics: Sequence[FrameTopic] = (),
    tenant_feeds: Sequence[TenantFeed] = (),
) -> APIRouter:
    router = APIRouter()
    normalizer = SymbolNormalizer()

    @router.websocket("/ws/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            principal = await websocket_principal(websocket)
        except ChainflowError as e:
            await _close(websocket, CLOSE_AUTH_FAILED, e.code, e.message)
            return
        if not principal.has_permission(Permission.MARKET_READ):
            await _close(websocket, CLOSE_FORBIDDEN, "permission_denied", "needs market:read")
            return
        limiter = websocket.app.state.websocket_limiter
        try:
            slot = await limiter.acquire(principal)
        except TierLimitExceeded as e:
            await _close(websocket, CLOSE_TIER_LIMIT, e.code, e.message)
            return
        connection = StreamConnection(
            websocket,
            bus,
            principal.tenant_id,
            principal.limits.symbols_streamed,
            frame_topics,
            tenant_feeds,
        )
        sender = asyncio.create_task(_send_loop(websocket, connection))
        guard = MessageGuard("/ws/stream", new_id(), principal.tenant_id)
        try:
            async with asyncio.timeout(limiter.max_connection_lifetime_s):
                await connection.follow_tenant_feeds()
                while not sender.done():
                    receiving = asyncio.ensure_future(websocket.receive())
                    await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
                    if not receiving.done():
                        receiving.cancel()
                        break
                    message = receiving.result()
                    if message["type"] == "websocket.disconnect":
                        break
                    answer = await _answer(connection, message, normalizer, guard)
                    await connection.queue.put(answer)
        except (WebSocketDisconnect, TimeoutError, RuntimeError):
            pass
        finally:
            guard.close()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await connection.close()
            await limiter.release(slot)

    return router


async def _answer(
    connection: StreamConnection,
    message: Mapping[str, Any],
    normalizer: SymbolNormalizer,
    guard: MessageGuard,
) -> dict[str, Any]:
    """Return the frame answering one received message; a failure is answered, not raised."""
    text = message.get("text")
    if text is None:
        return _error("invalid_schema", "expected text frames of JSON; received a binary frame")
    if len(text) > MAX_FRAME_CHARS:
        return _error(
            "invalid_schema",
            f"expected a frame of at most {MAX_FRAME_CHARS} characters; received {len(text)}",
        )
    try:
        return await connection.handle(text, normalizer)
    except Exception as e:  # defence in depth: one message must not end the connection
        return guard.answer(e)


async def _send_loop(websocket: WebSocket, connection: StreamConnection) -> None:
    while True:
        frame = await connection.queue.get()
        connection.taken(frame)
        if connection.overflowed:
            await _close(websocket, CLOSE_SLOW_CONSUMER, "slow_consumer", "the stream fell behind")
            return
        try:
            await asyncio.wait_for(websocket.send_text(json.dumps(frame)), SEND_TIMEOUT_S)
        except TimeoutError:
            await _close(websocket, CLOSE_SLOW_CONSUMER, "slow_consumer", "sends timed out")
            return


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


async def _close(websocket: WebSocket, code: int, error_code: str, message: str) -> None:
    try:
        await websocket.send_text(json.dumps(_error(error_code, message)))
        await websocket.close(code=code, reason=error_code)
    except (WebSocketDisconnect, RuntimeError):
        pass


__all__ = ["TenantFeed", "build_stream_router"]
