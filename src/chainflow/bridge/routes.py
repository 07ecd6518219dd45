"""``WS /ws/ticks``: MT5 terminals stream ticks with an API key (DESIGN.md section 4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from chainflow.bridge.events import ConnectionChanged, connections_topic
from chainflow.bridge.frame_pipeline import RetryLater, serve_frames
from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.ingest_protocol import ProtocolViolation
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.signal_forward import SignalForwarder
from chainflow.bridge.terminals import TerminalMeter, TerminalRegistry
from chainflow.bridge.usage import UsageMeter
from chainflow.core.auth import Principal, Scope
from chainflow.core.clock import Clock
from chainflow.core.cpu_share import CpuShares
from chainflow.core.errors import ChainflowError, TierLimitExceeded
from chainflow.core.logging import get_logger
from chainflow.gateway.api import websocket_principal
from chainflow.hub.api import BusMessage, EventBus, subscribe_in_turn
from chainflow.storage.api import Cache, TimeSeriesStore

log = get_logger("chainflow.bridge.routes")

CLOSE_AUTH_FAILED = 4001
CLOSE_PROTOCOL_VIOLATION = 4002
CLOSE_FORBIDDEN = 4003
CLOSE_TIER_LIMIT = 4008
CLOSE_LIFETIME_REACHED = 4010
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SERVICE_RESTART = 1012  # the server drains (SIGTERM): answer what was read, then close
SHUTTING_DOWN = (
    CLOSE_SERVICE_RESTART,
    "shutting_down",
    "the server is shutting down: reconnect and resend the ticks not acked",
)


def build_bridge_router(
    *,
    feed_for: Callable[[Principal], Awaitable[TenantFeed]],
    store: TimeSeriesStore,
    bus: EventBus,
    cache: Cache,
    clock: Clock,
    usage: UsageMeter,
    connection_topic: Callable[[str, str], str] | None = None,
    cpu_shares: CpuShares | None = None,
    terminals: TerminalRegistry | None = None,
) -> APIRouter:
    """``/ws/ticks``; ``connection_topic(tenant, connection)`` names the subject whose
    messages (``{"frames": [...]}``, e.g. the trading engine's signals for this connection's
    ticks) are forwarded to the client. ``cpu_shares`` meters each tenant's frames against
    its tier's CPU share and reads the frames of a tenant over it more slowly. ``terminals``
    holds each admitted connection while it is open (``GET /api/v1/terminals``)."""
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
        meter = TerminalMeter(usage)  # the session's counts, forwarded to the usage meter
        session = IngestSession(
            principal=principal,
            feed=await feed_for(principal),
            store=store,
            bus=bus,
            cache=cache,
            clock=clock,
            usage=meter,  # records as a UsageMeter does
        )
        outbox: asyncio.Queue[str] = asyncio.Queue()
        sender = asyncio.create_task(_send_loop(websocket, outbox))
        subscription = None
        if connection_topic is not None:
            subject = connection_topic(principal.tenant_id, session.connection_id)
            # The forwarder only queues: in the publisher's turn, on the in-process bus.
            subscription = await subscribe_in_turn(bus, subject, _forwarder(outbox))
        guard = MessageGuard("/ws/ticks", session.connection_id, principal.tenant_id)
        closing: tuple[int, str, str] | None = None
        await _announce(bus, clock, principal, session.connection_id, "connected")
        terminal = None
        if terminals is not None:
            terminal = terminals.open(
                principal,
                session.connection_id,
                connected_at_ms=clock.now_ms(),
                meter=meter,
                symbols=lambda: session.symbols,
            )
        try:
            async with asyncio.timeout(limiter.max_connection_lifetime_s):
                await serve_frames(websocket, session, outbox, guard, cpu_shares)
        except TimeoutError:
            closing = (CLOSE_LIFETIME_REACHED, "lifetime_reached", "reconnect")
        except ProtocolViolation as e:
            closing = (e.close_code, "protocol_violation", str(e))
        except RetryLater as e:
            closing = (CLOSE_TRY_AGAIN_LATER, e.error.code, e.error.message)
        except WebSocketDisconnect as e:
            # 1012 is how the server's drain (and uvicorn's shutdown) ends the reading; the
            # frames read before it are stored and acked by now: say why, then close.
            closing = SHUTTING_DOWN if e.code == CLOSE_SERVICE_RESTART else None
        finally:
            if terminals is not None and terminal is not None:
                terminals.close(terminal)
            guard.close()
            if subscription is not None:
                await subscription.unsubscribe()
            await _drain(outbox, sender)  # what was queued goes out before the close frame
            if closing is not None:
                await _close(websocket, *closing)
            await limiter.release(slot)
            code = closing[0] if closing is not None else None
            await _announce(bus, clock, principal, session.connection_id, "disconnected", code)

    return router


async def _announce(
    bus: EventBus,
    clock: Clock,
    principal: Principal,
    connection: str,
    state: str,
    close_code: int | None = None,
) -> None:
    """Publish that a terminal's connection opened or closed (the notification hub alerts
    on a long absence); a failed publish never ends or fails the connection."""
    event = ConnectionChanged(
        tenant_id=principal.tenant_id,
        connection=connection,
        api_key_id=principal.api_key_id or "",
        user_id=principal.user_id,
        state=state,
        ts=clock.now_ms(),
        close_code=close_code,
    )
    try:
        await bus.publish(connections_topic(principal.tenant_id), event.to_json())
    except Exception as e:
        log.warning("bridge_connection_event_failed", state=state, error=type(e).__name__)


def _forwarder(outbox: asyncio.Queue[str]) -> Callable[[BusMessage], Awaitable[None]]:
    signals = SignalForwarder()  # each tick's signal once, even from two replicas

    async def forward(message: BusMessage) -> None:
        for line in signals.lines(message.data):  # one JSON frame per line
            outbox.put_nowait(line)

    return forward


async def _send_loop(websocket: WebSocket, outbox: asyncio.Queue[str]) -> None:
    """The connection's one sender: acks, errors and forwarded signals, in queue order."""
    while True:
        text = await outbox.get()
        try:
            await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            outbox.task_done()


async def _drain(outbox: asyncio.Queue[str], sender: asyncio.Task[None]) -> None:
    """Let the sender flush what is queued (a close follows), then stop it."""
    if not sender.done():
        try:
            await asyncio.wait_for(outbox.join(), 1.0)
        except TimeoutError:
            pass
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)


async def _close(websocket: WebSocket, code: int, error_code: str, message: str) -> None:
    try:
        frame = {"type": "error", "code": error_code, "message": message, "seq": None}
        await websocket.send_text(json.dumps(frame))
        await websocket.close(code=code, reason=error_code[:120])
    except (WebSocketDisconnect, RuntimeError):
        pass
