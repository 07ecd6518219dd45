"""One connection's frames, answered in order in two stages: publish now, store behind.

A reader task takes frames off the socket as they come (``read_frames``); the serving loop
(``serve_frames``) takes every frame read meanwhile at once, validates each unit and
publishes its live ticks at once (``IngestSession.begin_unit``): a tick's signal waits for
neither the disk nor the store of the ticks before it. The durable store, the ticks not
published live, the bars and the ack follow in a second task (``IngestSession.finish``),
unit after unit in arrival order, so the acks and errors go out in the order the frames
came. At most ``MAX_PENDING_UNITS`` units and ``MAX_PENDING_TICKS`` ticks wait for their
store: beyond that the serving loop waits for the stores too, the reader's queue fills and
TCP backpressure slows the terminal. A live terminal (a few ticks a frame) never reaches
the bound; a backfill at full speed does, and is paced by its commits as before, instead of
publishing as fast as it can parse (measured: the live tenants' p99 beside a replay).

Before this split a unit's live ticks were published only after the previous unit's group
commit: under load every tick of a connection waited for the store's commit latency (the
aligned benchmark's 50-250 ms per tick, with the tick path idle half of the time).

A disconnect is raised once the units before it are stored and answered. A failure in
either stage ends the connection (``RetryLater``, ``ProtocolViolation``); the units not
stored then are abandoned (not acked, their resend taken, not refused as duplicates).
"""

from __future__ import annotations

import asyncio

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from chainflow.bridge.frame_units import Unit
from chainflow.bridge.ingest import IngestSession, PendingTicks
from chainflow.bridge.ingest_protocol import Frame, ProtocolViolation
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.ws_messages import MAX_FRAME_CHARS
from chainflow.core.cpu_share import CpuShares
from chainflow.core.errors import ChainflowError

MAX_QUEUED_FRAMES = 256  # read ahead of the answers; the reader waits when full (TCP backpressure)
MAX_PENDING_UNITS = 64  # units published and waiting for their store
MAX_PENDING_TICKS = 500  # their ticks

Step = PendingTicks | list[str]  # a unit to finish, or the encoded answer of one


class RetryLater(Exception):
    """A message failed on a dependency (the store is down): close so the client resends.

    Its ticks are neither stored nor settled, and a client resends unacked ticks only after
    a reconnect, so the connection closes with 1013 (try again later) after the error frame.
    """

    def __init__(self, error: ChainflowError) -> None:
        super().__init__(error.message)
        self.error = error


async def serve_frames(
    websocket: WebSocket,
    session: IngestSession,
    outbox: asyncio.Queue[str],
    guard: MessageGuard,
    shares: CpuShares | None,
) -> None:
    """Answer the frames in order; only a disconnect or a closing error ends the loop.

    With ``shares``, the time spent computing the answers (``IngestSession.cpu_s``, not the
    waits on the store) is charged to the tenant, and the reader reads on only once the
    tenant is back within its CPU share.
    """
    inbox: asyncio.Queue[tuple[str, int] | BaseException] = asyncio.Queue(MAX_QUEUED_FRAMES)
    steps: asyncio.Queue[Step] = asyncio.Queue(MAX_PENDING_UNITS)
    backlog = _Backlog()
    reader = asyncio.create_task(read_frames(websocket, session, inbox, shares))
    finisher = asyncio.create_task(_finish_units(session, steps, backlog, outbox, guard))
    finisher.add_done_callback(lambda _: _wake(inbox))  # its failure ends the serving
    try:
        while True:
            received = [await inbox.get()]
            while len(received) < MAX_QUEUED_FRAMES and not inbox.empty():
                received.append(inbox.get_nowait())
            texts = [item for item in received if isinstance(item, tuple)]
            spent = session.cpu_s
            try:
                for unit in session.units(texts):
                    _raise_if_failed(finisher)  # no more publishing once the store failed
                    step = await begin_unit(session, unit, guard)
                    await _hand_over(session, steps, step, finisher)
                    if isinstance(step, PendingTicks):
                        backlog.ticks += len(step.accepted)
                    if backlog.ticks >= MAX_PENDING_TICKS:
                        await _finished(steps, finisher)
            finally:
                if shares is not None:
                    shares.charge(session.tenant_id, session.cpu_s - spent)
            for item in received:
                if isinstance(item, _FinisherStopped):
                    _raise_if_failed(finisher)
                elif isinstance(item, BaseException):
                    await _finished(steps, finisher)  # the units before it answered first
                    raise item
    finally:
        reader.cancel()
        finisher.cancel()
        await asyncio.gather(reader, finisher, return_exceptions=True)
        while not steps.empty():
            step = steps.get_nowait()
            if isinstance(step, PendingTicks):
                session.abandon(step)


async def _hand_over(
    session: IngestSession, steps: asyncio.Queue[Step], step: Step, finisher: asyncio.Task[None]
) -> None:
    """Queue ``step`` for the finisher; wait while ``MAX_PENDING_UNITS`` are queued. A
    step the finisher failed before taking is abandoned."""
    if steps.full() and not finisher.done():
        putting = asyncio.ensure_future(steps.put(step))
        try:
            await asyncio.wait((putting, finisher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not putting.done():
                putting.cancel()
        if putting.done() and not putting.cancelled():
            return
    elif not finisher.done():
        steps.put_nowait(step)
        return
    if isinstance(step, PendingTicks):
        session.abandon(step)
    _raise_if_failed(finisher)


async def _finished(steps: asyncio.Queue[Step], finisher: asyncio.Task[None]) -> None:
    """Wait until every queued unit is finished (or the finisher failed)."""
    joined = asyncio.ensure_future(steps.join())
    try:
        await asyncio.wait((joined, finisher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not joined.done():
            joined.cancel()
    _raise_if_failed(finisher)


class _FinisherStopped(Exception):
    """Put in the inbox when the finisher ends: the serving loop raises its failure."""


def _wake(inbox: asyncio.Queue[tuple[str, int] | BaseException]) -> None:
    """Wake the serving loop waiting for a frame (it checks the finisher after each
    batch); a full inbox needs no waking."""
    try:
        inbox.put_nowait(_FinisherStopped())
    except asyncio.QueueFull:
        pass


def _raise_if_failed(finisher: asyncio.Task[None]) -> None:
    if finisher.done() and not finisher.cancelled():
        error = finisher.exception()
        if error is not None:
            raise error


class _Backlog:
    """The ticks handed to the finisher and not yet stored."""

    def __init__(self) -> None:
        self.ticks = 0


async def _finish_units(
    session: IngestSession,
    steps: asyncio.Queue[Step],
    backlog: _Backlog,
    outbox: asyncio.Queue[str],
    guard: MessageGuard,
) -> None:
    """The second stage: each unit's store and answer, in arrival order."""
    while True:
        step = await steps.get()
        try:
            if isinstance(step, list):
                lines = step
            else:
                lines = await finish_unit(session, step, guard)
                backlog.ticks -= len(step.accepted)
            for line in lines:
                outbox.put_nowait(line)
        finally:
            steps.task_done()


async def read_frames(
    websocket: WebSocket,
    session: IngestSession,
    inbox: asyncio.Queue[tuple[str, int] | BaseException],
    shares: CpuShares | None,
) -> None:
    """Read frames into ``inbox`` with their receive time; a disconnect or a frame that
    breaks the protocol goes in last, for the serving loop to raise after the frames
    before it are answered."""
    tenant_id = session.tenant_id
    if shares is not None:
        shares.declare(tenant_id, session.cpu_share)
    try:
        while True:
            if shares is not None:
                await shares.admit(tenant_id)
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
            await inbox.put((text, session.now_us()))
    except (WebSocketDisconnect, ProtocolViolation, RuntimeError) as e:
        await inbox.put(e)


async def begin_unit(session: IngestSession, unit: Unit, guard: MessageGuard) -> Step:
    """The first stage of ``unit``: its answer, or its ticks published and to be stored."""
    try:
        begun = await session.begin_unit(unit)
    except Exception as e:
        return _answer_failure(guard, e)
    return begun if isinstance(begun, PendingTicks) else _encoded(begun)


async def finish_unit(
    session: IngestSession, pending: PendingTicks, guard: MessageGuard
) -> list[str]:
    """The second stage of a tick unit: stored; its encoded answer."""
    try:
        return _encoded(await session.finish(pending))
    except Exception as e:
        return _answer_failure(guard, e)


def _answer_failure(guard: MessageGuard, error: Exception) -> list[str]:
    """Answer a unit's failure instead of raising it. Only ``ProtocolViolation`` and
    ``RetryLater`` (a retryable ``ChainflowError``, such as the store being down) escape:
    both close the connection with their code."""
    if isinstance(error, ProtocolViolation):
        raise error
    if isinstance(error, ChainflowError) and error.retryable:
        guard.answer(error)  # logged; the close frame carries the code
        raise RetryLater(error) from error
    # defence in depth: one message must not end the connection
    return [orjson.dumps(guard.answer(error)).decode()]


def _encoded(frames: list[Frame]) -> list[str]:
    return [orjson.dumps(frame).decode() for frame in frames]
