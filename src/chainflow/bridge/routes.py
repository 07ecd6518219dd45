"""``WS /ws/ticks``: MT5 terminals stream ticks with an API key (DESIGN.md section 4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from chainflow.bridge.ingest import IngestSession, ProtocolViolation, TenantFeed
from chainflow.bridge.usage import UsageMeter
from chainflow.core.auth import Principal, Scope
from chainflow.core.clock import Clock
from chainflow.core.errors import ChainflowError, TierLimitExceeded
from chainflow.gateway.api import websocket_principal
from chainflow.hub.api import EventBus
from chainflow.storage.api import Cache, TimeSeriesStore

CLOSE_AUTH_FAILED = 4001
CLOSE_PROTOCOL_VIOLATION = 4002
CLOSE_FORBIDDEN = 4003
CLOSE_TIER_LIMIT = 4008
CLOSE_LIFETIME_REACHED = 4010
MAX_FRAME_CHARS = 1_048_576


def build_bridge_router(
    *,
    feed_for: Callable[[Principal], Awaitable[TenantFeed]],
    store: TimeSeriesStore,
    bus: EventBus,
    cache: Cache,
    clock: Clock,
    usage: UsageMeter,
) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/ticks")
    async def ingest_ticks(websocket: WebSocket) -> None:
        await websocket.accept()  # close codes reach the client only after the handshake
        try:
            principal = await websocket_principal(websocket)
        except ChainflowError as e:
            await _close(websocket, CLOSE_AUTH_FAILED, e.code, e.message)
            return
        if principal.auth_method != "api_key" or not principal.has_scope(Scope.TICKS_WRITE):
            message = "expected an API key with the ticks:write scope"
            await _close(websocket, CLOSE_FORBIDDEN, "scope_denied", message)
            return
        limiter = websocket.app.state.websocket_limiter
        try:
            slot = await limiter.acquire(principal)
        except TierLimitExceeded as e:
            await _close(websocket, CLOSE_TIER_LIMIT, e.code, e.message)
            return
        session = IngestSession(
            principal=principal,
            feed=await feed_for(principal),
            store=store,
            bus=bus,
            cache=cache,
            clock=clock,
            usage=usage,
        )
        try:
            async with asyncio.timeout(limiter.max_connection_lifetime_s):
                await _serve(websocket, session)
        except TimeoutError:
            await _close(websocket, CLOSE_LIFETIME_REACHED, "lifetime_reached", "reconnect")
        except ProtocolViolation as e:
            await _close(websocket, e.close_code, "protocol_violation", str(e))
        except WebSocketDisconnect:
            pass
        finally:
            await limiter.release(slot)

    return router


async def _serve(websocket: WebSocket, session: IngestSession) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise ProtocolViolation("expected text frames of JSON; received a binary frame")
        if len(text) > MAX_FRAME_CHARS:
            raise ProtocolViolation(
                f"a frame holds at most {MAX_FRAME_CHARS} characters; received {len(text)}"
            )
        for frame in await session.handle_text(text):
            await websocket.send_text(json.dumps(frame))


async def _close(websocket: WebSocket, code: int, error_code: str, message: str) -> None:
    try:
        frame = {"type": "error", "code": error_code, "message": message, "seq": None}
        await websocket.send_text(json.dumps(frame))
        await websocket.close(code=code, reason=error_code[:120])
    except (WebSocketDisconnect, RuntimeError):
        pass
