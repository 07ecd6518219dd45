"""One connection's frames, answered in order in two stages: publish now, store behind.

A reader task takes frames off the socket as they come (``read_frames``); the serving loop
(``serve_frames``) takes every frame read meanwhile at once, validates each unit and
publishes its live ticks at once (``IngestSession.begin_unit``): a tick's signal waits for
neither the disk nor the store of the ticks before it. A frame that finds the serving loop
idle (no unit being begun, nothing read ahead) is begun by the reader itself, in the turn
it is read: with the tick path taking its input in the publisher's turn and scoring the
ticks published in a turn as one round in the next (``trading.tick.path``), a live tick's
signal is then in the connection's outbox two turns of the event loop after the frame
arrived (each turn of a busy loop lasts as long as all the work ready meanwhile).

The durable store, the ticks not published live, the bars and the ack follow in a second
task (``IngestSession.finish``), unit after unit in arrival order, so the acks and errors
go out in the order the frames came. At most ``MAX_PENDING_UNITS`` units and
``MAX_PENDING_TICKS`` ticks wait for their store: beyond that the first stage waits for the
stores too (in the serving loop, the reader's queue fills; in the reader, it reads no
further) and TCP backpressure slows the terminal. A live terminal (a few ticks a frame)
never reaches the bound; a backfill at full speed does, and is paced by its commits as
before, instead of publishing as fast as it can parse (measured: the live tenants' p99
beside a replay).

Before this split a unit's live ticks were published only after the previous unit's group
commit: under load every tick of a connection waited for the store's commit latency (the
aligned benchmark's 50-250 ms per tick, with the tick path idle half of the time).

The first stage works in slices: consecutive tick frames are merged, and cut, into units
of at most ``SLICE_TICKS`` ticks, each frame decoded only when its slice is begun, and once
the stage has begun ``SLICE_TICKS`` ticks without a turn of the event loop, it gives the
loop a turn before the next unit. The reader finds frames already buffered without a turn
of the loop, so a begin that starts within ``CONTINUED_S`` of the last one's end counts as
the same turn. Without that a backfill's reader, finding a few 100-tick frames buffered,
decoded, validated and published them all in one piece of the loop (15-30 ms, py-spy on
the noisy scenario), and every live tick read meanwhile waited for it. A live terminal (a
few ticks a frame) never yields: on a busy loop each turn given away would cost its next
frame a whole turn.

A disconnect is raised once the units before it are stored and answered. A failure in
either stage ends the connection (``RetryLater``, ``ProtocolViolation``); the units not
stored then are abandoned (not acked, their resend taken, not refused as duplicates).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from chainflow.bridge.frame_units import MAX_MERGED_ITEMS, Unit, sliced_units
from chainflow.bridge.ingest import IngestSession, PendingTicks
from chainflow.bridge.ingest_protocol import Frame, ProtocolViolation
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.ws_messages import MAX_FRAME_CHARS
from chainflow.core.cpu_share import CpuShares
from chainflow.core.errors import ChainflowError

MAX_QUEUED_FRAMES = 256  # read ahead of the answers; the reader waits when full (TCP backpressure)
MAX_PENDING_UNITS = 64  # units published and waiting for their store
MAX_PENDING_TICKS = 500  # their ticks
SLICE_TICKS = 100  # ticks begun as one unit, and between two turns of the loop, at most
CONTINUED_S = 0.0002  # a begin this soon after the last one continues its turn (frames buffered)

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
    finisher = asyncio.create_task(_finish_units(session, steps, backlog, outbox, guard))
    stage = _FirstStage(session, steps, backlog, finisher, guard, shares)
    reader = asyncio.create_task(read_frames(websocket, session, inbox, shares, stage))
    finisher.add_done_callback(lambda _: _wake(inbox))  # its failure ends the serving
    try:
        while True:
            received = [await inbox.get()]
            while len(received) < MAX_QUEUED_FRAMES and not inbox.empty():
                received.append(inbox.get_nowait())
            texts = [item for item in received if isinstance(item, tuple)]
            if texts:
                await stage.begin(texts)
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
            _abandon(session, steps.get_nowait())


class _FirstStage:
    """The first stage of a connection's frames: validate each unit, publish its live
    ticks, hand it to the finisher. Run by the serving loop, or by the reader itself for a
    frame that finds the serving loop idle (``busy`` false, nothing in the inbox): a live
    tick is then published in the turn it is read, without a turn of the event loop for
    the serving loop's task."""

    def __init__(
        self,
        session: IngestSession,
        steps: asyncio.Queue[Step],
        backlog: _Backlog,
        finisher: asyncio.Task[None],
        guard: MessageGuard,
        shares: CpuShares | None,
    ) -> None:
        self._session, self._steps, self._backlog = session, steps, backlog
        self._finisher, self._guard, self._shares = finisher, guard, shares
        self.busy = False
        self._turn_ticks = 0  # ticks begun since the event loop's last turn
        self._ended_s = 0.0  # when the last begin ended

    async def begin(self, texts: list[tuple[str, int]]) -> None:
        """Begin the units of ``texts`` in order; with ``shares``, charge their CPU time."""
        session, steps, finisher = self._session, self._steps, self._finisher
        self.busy = True
        spent = session.cpu_s
        if time.perf_counter() - self._ended_s > CONTINUED_S:
            self._turn_ticks = 0  # else frames read back to back: the same turn of the loop
        try:
            for unit in sliced_units(session.decoded(texts), SLICE_TICKS):
                if self._turn_ticks >= SLICE_TICKS:
                    await asyncio.sleep(0)  # the other connections' frames read meanwhile
                    self._turn_ticks = 0
                self._turn_ticks += 0 if unit.items is None else len(unit.items)
                _raise_if_failed(finisher)  # no more publishing once the store failed
                step = await begin_unit(session, unit, self._guard)
                await _hand_over(session, steps, step, finisher)
                if isinstance(step, PendingTicks):
                    self._backlog.ticks += len(step.accepted)
                if self._backlog.ticks >= MAX_PENDING_TICKS:
                    await _finished(steps, finisher)
        finally:
            self._ended_s = time.perf_counter()
            self.busy = False
            if self._shares is not None:
                self._shares.charge(session.tenant_id, session.cpu_s - spent)


async def _hand_over(
    session: IngestSession, steps: asyncio.Queue[Step], step: Step, finisher: asyncio.Task[None]
) -> None:
    """Queue ``step`` for the finisher; wait while ``MAX_PENDING_UNITS`` are queued. A
    step the finisher failed before taking, or not queued when the wait is cancelled, is
    abandoned."""
    if not steps.full() and not finisher.done():
        steps.put_nowait(step)
        return
    if not finisher.done():
        putting = asyncio.ensure_future(steps.put(step))
        try:
            await _unless_finisher_ends(putting, finisher)
        except asyncio.CancelledError:
            if not _queued(putting):  # and now never: nobody will store it
                _abandon(session, step)
            raise
        if _queued(putting):
            return
    _abandon(session, step)
    _raise_if_failed(finisher)


def _queued(putting: asyncio.Future[None]) -> bool:
    return putting.done() and not putting.cancelled()


def _abandon(session: IngestSession, step: Step) -> None:
    if isinstance(step, PendingTicks):
        session.abandon(step)


async def _finished(steps: asyncio.Queue[Step], finisher: asyncio.Task[None]) -> None:
    """Wait until every queued unit is finished (or the finisher failed)."""
    await _unless_finisher_ends(asyncio.ensure_future(steps.join()), finisher)
    _raise_if_failed(finisher)


async def _unless_finisher_ends(waited: asyncio.Future[None], finisher: asyncio.Task[None]) -> None:
    """Wait for ``waited`` or the finisher's end, whichever comes first; ``waited`` is
    cancelled unless it is done (also when this wait is cancelled)."""
    try:
        await asyncio.wait((waited, finisher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waited.done():
            waited.cancel()


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
    """The second stage: each unit's store and answer, in arrival order. The tick units
    queued one behind the other are finished together (one durable commit, one ack, up to
    ``MAX_MERGED_ITEMS`` ticks): a connection's stores keep up with its frames however
    long a commit takes, as when its frames were read together."""
    while True:
        taken = [await steps.get()]
        ticks = _ticks_of(taken[0])
        while isinstance(taken[-1], PendingTicks) and not steps.empty():
            if ticks >= MAX_MERGED_ITEMS:
                break
            taken.append(steps.get_nowait())
            ticks += _ticks_of(taken[-1])
        try:
            for run in _runs(taken):
                if isinstance(run, tuple):
                    lines = await finish_unit(session, PendingTicks.merged(run), guard)
                    backlog.ticks -= sum(len(unit.accepted) for unit in run)
                else:
                    lines = run
                for line in lines:
                    outbox.put_nowait(line)
        finally:
            for _ in taken:
                steps.task_done()


def _ticks_of(step: Step) -> int:
    return len(step.accepted) if isinstance(step, PendingTicks) else 0


def _runs(steps: list[Step]) -> list[list[str] | tuple[PendingTicks, ...]]:
    """``steps`` in order, each run of tick units together (a tuple)."""
    runs: list[list[str] | tuple[PendingTicks, ...]] = []
    units: list[PendingTicks] = []
    for step in steps:
        if isinstance(step, PendingTicks):
            units.append(step)
            continue
        if units:
            runs.append(tuple(units))
            units = []
        runs.append(step)
    if units:
        runs.append(tuple(units))
    return runs


async def read_frames(
    websocket: WebSocket,
    session: IngestSession,
    inbox: asyncio.Queue[tuple[str, int] | BaseException],
    shares: CpuShares | None,
    stage: _FirstStage,
) -> None:
    """Read frames into ``inbox`` with their receive time, or begin one at once through
    ``stage`` when the serving loop is idle; a disconnect, a frame that breaks the protocol
    or a failure of the first stage goes in last, for the serving loop to raise after the
    frames before it are answered."""
    tenant_id = session.tenant_id
    if shares is not None:
        shares.declare(tenant_id, session.cpu_share)
    try:
        while True:
            if shares is not None:
                session.unread_for(await shares.admit(tenant_id))
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
            received = (text, session.now_us())
            if not stage.busy and inbox.empty():
                await stage.begin([received])  # the serving loop waits for the inbox
            else:
                await inbox.put(received)
    except Exception as e:  # a disconnect, a violation, a failed store (RetryLater)
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
