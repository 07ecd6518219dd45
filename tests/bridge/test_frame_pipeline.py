"""One connection's two stages: a tick is published at once, its store and ack follow.

The store here is the embedded one, with a gate in front of ``insert_ticks`` that holds a
commit for as long as a test wants (a slow disk), or fails it (the store going down).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import WebSocketDisconnect

from chainflow.bridge import frame_pipeline
from chainflow.bridge.events import TicksAccepted, ticks_topic
from chainflow.bridge.frame_pipeline import RetryLater, serve_frames
from chainflow.bridge.ingest import IngestSession, PendingTicks, TenantFeed
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import DependencyUnavailable
from chainflow.core.ids import TenantId
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.api import subscribe_in_turn
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries
from tests.bridge.principals import ticks_writer

NOW = 1_800_000_000_000
TENANT = TenantId("t1")
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]
WAIT_S = 5.0


class GatedStore:
    """The embedded store; ``insert_ticks`` waits while ``closed`` and fails when told."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self._store = store
        self.open = asyncio.Event()
        self.open.set()
        self.fail_next = False
        self.inserts_waiting = 0
        self.inserts: list[int] = []  # ticks per insert

    async def insert_ticks(self, tenant_id: str, ticks: Any) -> list[bool]:
        self.inserts.append(len(ticks))
        self.inserts_waiting += 1
        try:
            await self.open.wait()
        finally:
            self.inserts_waiting -= 1
        if self.fail_next:
            self.fail_next = False
            raise DependencyUnavailable("the time-series store is not answering")
        return await self._store.insert_ticks(tenant_id, ticks)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


class Terminal:
    """The WebSocket's receiving side as ``serve_frames`` reads it."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        return await self.frames.get()

    def send_ticks(self, *ticks: tuple[int, int]) -> None:
        items = [
            {"symbol": "EURUSD", "ts": ts, "bid": 1.1, "ask": 1.1002, "volume": 1.0, "seq": seq}
            for seq, ts in ticks
        ]
        text = json.dumps({"type": "ticks", "items": items})
        self.frames.put_nowait({"type": "websocket.receive", "text": text})

    def disconnect(self) -> None:
        self.frames.put_nowait({"type": "websocket.disconnect", "code": 1000})


@dataclass
class Connection:
    store: GatedStore
    terminal: Terminal
    outbox: asyncio.Queue[str]
    published: list[int] = field(default_factory=list)  # tick times, as the hot path saw them
    serving: asyncio.Task[None] | None = None

    def answers(self) -> list[dict[str, Any]]:
        out = []
        while not self.outbox.empty():
            out.append(orjson.loads(self.outbox.get_nowait()))
        return out


def _session(store: Any, bus: Any, feed: TenantFeed, clock: SimulatedClock) -> IngestSession:
    principal = ticks_writer(TENANT)
    return IngestSession(
        principal=principal,
        feed=feed,
        store=store,
        bus=bus,
        cache=open_cache(CacheSettings(), clock),
        clock=clock,
    )


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[GatedStore, Any, TenantFeed, Any]]:
    clock = SimulatedClock(NOW)
    inner = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await inner.start()
    bus = open_bus(BusSettings())
    await bus.start()
    await inner.load_tick_watermark(TENANT, "EURUSD")  # as a hello does: ticks go live
    feed = TenantFeed(TENANT, TickValidator(ValidationConfig(), clock, SymbolNormalizer()), 1000)
    yield GatedStore(inner), bus, feed, clock
    await bus.close()
    await inner.close()


async def _connect(parts: tuple[GatedStore, Any, TenantFeed, Any]) -> Connection:
    store, bus, feed, clock = parts
    connection = Connection(store, Terminal(), asyncio.Queue())

    async def seen(message: Any) -> None:
        connection.published += [row.ts for row in TicksAccepted.from_json(message.data).ticks]

    await bus.subscribe(ticks_topic(TENANT, "EURUSD", partitions=bus.partitions), seen)
    session = _session(store, bus, feed, clock)
    guard = MessageGuard("/ws/ticks", session.connection_id, TENANT)
    connection.serving = asyncio.create_task(
        serve_frames(connection.terminal, session, connection.outbox, guard, None)  # type: ignore[arg-type]
    )
    return connection


async def _until(condition: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.005)


async def _stored(store: GatedStore) -> list[int]:
    ticks = await store.scan_ticks(TENANT, "EURUSD", 0, NOW + 60_000)
    return [t.ts for t in ticks]


async def test_a_tick_is_published_while_the_store_of_the_one_before_commits(parts) -> None:
    store = parts[0]
    conn = await _connect(parts)
    store.open.clear()  # a slow disk: the first commit hangs
    conn.terminal.send_ticks((1, NOW - 3000))
    await _until(lambda: store.inserts_waiting == 1)
    conn.terminal.send_ticks((2, NOW - 2000))
    conn.terminal.send_ticks((3, NOW - 1000))

    await _until(lambda: len(conn.published) == 3)  # the hot path has all three already
    assert conn.published == [NOW - 3000, NOW - 2000, NOW - 1000]
    assert conn.answers() == []  # nothing acked before it is stored

    store.open.set()
    await _until(lambda: conn.outbox.qsize() >= 2)
    await asyncio.sleep(0.05)
    acks = [frame["seq"] for frame in conn.answers()]
    assert acks == sorted(acks) and acks[-1] == 3  # in order, all three
    assert await _stored(store) == [NOW - 3000, NOW - 2000, NOW - 1000]

    conn.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await conn.serving  # type: ignore[misc]


async def test_a_disconnect_waits_for_the_units_before_it_to_be_stored(parts) -> None:
    store = parts[0]
    conn = await _connect(parts)
    store.open.clear()
    conn.terminal.send_ticks((1, NOW - 2000))
    conn.terminal.send_ticks((2, NOW - 1000))
    conn.terminal.disconnect()
    await _until(lambda: len(conn.published) == 2)
    await asyncio.sleep(0.05)
    assert not conn.serving.done()  # type: ignore[union-attr]

    store.open.set()
    with pytest.raises(WebSocketDisconnect):
        await asyncio.wait_for(conn.serving, WAIT_S)  # type: ignore[arg-type]
    assert await _stored(store) == [NOW - 2000, NOW - 1000]  # published and stored: none lost


async def test_a_failed_store_ends_the_connection_and_the_units_behind_it_are_taken_again(
    parts,
) -> None:
    store = parts[0]
    conn = await _connect(parts)
    store.open.clear()
    store.fail_next = True
    conn.terminal.send_ticks((1, NOW - 2000))
    await _until(lambda: store.inserts_waiting == 1)
    conn.terminal.send_ticks((2, NOW - 1000))
    await _until(lambda: len(conn.published) == 2)

    store.open.set()
    with pytest.raises(RetryLater):
        await asyncio.wait_for(conn.serving, WAIT_S)  # type: ignore[arg-type]
    assert await _stored(store) == []
    assert conn.answers() == []  # not acked: the terminal resends both

    resent = await _connect(parts)
    resent.terminal.send_ticks((1, NOW - 2000), (2, NOW - 1000))
    await _until(lambda: resent.outbox.qsize() >= 1)
    answers = resent.answers()
    assert [a["type"] for a in answers] == ["ack"] and answers[-1]["seq"] == 2  # no duplicate
    assert await _stored(store) == [NOW - 2000, NOW - 1000]
    resent.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await asyncio.wait_for(resent.serving, WAIT_S)  # type: ignore[arg-type]


async def test_a_backfill_past_the_bound_waits_for_its_store_before_publishing_more(
    parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A live terminal (a tick or a few per frame) never has MAX_PENDING_TICKS waiting; a
    # backfill does, and is then paced by its commits instead of publishing at parse speed.
    monkeypatch.setattr(frame_pipeline, "MAX_PENDING_TICKS", 2)
    store = parts[0]
    conn = await _connect(parts)
    store.open.clear()
    conn.terminal.send_ticks((1, NOW - 3000), (2, NOW - 2000))  # the bound reached
    await _until(lambda: store.inserts_waiting == 1)
    conn.terminal.send_ticks((3, NOW - 1000))
    await asyncio.sleep(0.1)
    assert conn.published == [NOW - 3000, NOW - 2000]  # the third waits for the store

    store.open.set()
    await _until(lambda: len(conn.published) == 3)
    await _until(lambda: conn.outbox.qsize() >= 2)
    assert await _stored(store) == [NOW - 3000, NOW - 2000, NOW - 1000]
    conn.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await asyncio.wait_for(conn.serving, WAIT_S)  # type: ignore[arg-type]


async def test_a_frame_finding_the_serving_loop_idle_is_published_in_the_turn_it_is_read(
    parts,
) -> None:
    """The reader begins it itself: no turn of the event loop for the serving loop's task."""
    _, bus, _, _ = parts
    conn = await _connect(parts)
    in_turn: list[int] = []

    async def seen(message: Any) -> None:
        in_turn.extend(row.seq for row in TicksAccepted.from_json(message.data).ticks)

    await subscribe_in_turn(bus, ticks_topic(TENANT, "EURUSD", partitions=bus.partitions), seen)
    await asyncio.sleep(0.05)  # the reader waits for a frame
    conn.terminal.send_ticks((1, NOW - 1000))
    await asyncio.sleep(0)  # one turn: the reader's
    assert in_turn == [1]
    await _until(lambda: conn.outbox.qsize() == 1)
    assert conn.answers() == [{"type": "ack", "seq": 1}]
    conn.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await conn.serving  # type: ignore[misc]


async def test_units_queued_behind_a_commit_are_stored_together_and_acked_once(parts) -> None:
    """A connection's stores keep up with its frames however long a commit takes."""
    store = parts[0]
    conn = await _connect(parts)
    store.open.clear()
    conn.terminal.send_ticks((1, NOW - 4000))
    await _until(lambda: store.inserts_waiting == 1)
    for seq in (2, 3, 4):
        conn.terminal.send_ticks((seq, NOW - 4000 + seq * 500))
    await _until(lambda: len(conn.published) == 4)  # each frame published on its own

    store.open.set()
    await _until(lambda: conn.outbox.qsize() >= 2)
    await asyncio.sleep(0.05)
    assert conn.answers() == [{"type": "ack", "seq": 1}, {"type": "ack", "seq": 4}]
    assert store.inserts == [1, 3]  # the three frames behind the first: one commit
    assert await _stored(store) == [NOW - 4000, NOW - 3000, NOW - 2500, NOW - 2000]
    conn.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await conn.serving  # type: ignore[misc]


async def test_a_unit_whose_hand_over_is_cancelled_before_it_is_queued_is_abandoned(
    parts,
) -> None:
    """Its ticks were published but will never be stored: their resend must be taken."""
    store, bus, feed, clock = parts
    session = _session(store, bus, feed, clock)
    tick = {"symbol": "EURUSD", "ts": NOW - 1000, "bid": 1.1, "ask": 1.1002, "seq": 1}
    text = json.dumps({"type": "tick", **tick})
    (unit,) = session.units([(text, 0)])
    pending = await session.begin_unit(unit)
    assert isinstance(pending, PendingTicks) and len(pending.accepted) == 1
    steps: asyncio.Queue[Any] = asyncio.Queue(1)
    steps.put_nowait([])  # full: the hand-over waits
    finisher = asyncio.create_task(asyncio.Event().wait())
    handing = asyncio.create_task(frame_pipeline._hand_over(session, steps, pending, finisher))
    await asyncio.sleep(0.01)
    handing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handing
    finisher.cancel()
    (again,) = session.units([(text, 0)])
    resent = await session.begin_unit(again)
    assert isinstance(resent, PendingTicks) and len(resent.accepted) == 1  # not a duplicate


async def test_a_burst_of_frames_is_begun_in_slices_with_turns_of_the_loop_between(
    parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill's buffered frames do not hold the event loop until all are published:
    after ``SLICE_TICKS`` ticks begun the first stage lets other connections' frames be
    read before it begins more."""
    monkeypatch.setattr(frame_pipeline, "SLICE_TICKS", 2)
    _, bus, _, _ = parts
    conn = await _connect(parts)
    published: list[list[int]] = []

    async def seen(message: Any) -> None:
        published.append([row.seq for row in TicksAccepted.from_json(message.data).ticks])

    await subscribe_in_turn(bus, ticks_topic(TENANT, "EURUSD", partitions=bus.partitions), seen)
    await asyncio.sleep(0.05)  # the reader waits for a frame
    conn.terminal.send_ticks(*((seq, NOW - 9000 + seq * 100) for seq in range(1, 6)))
    conn.terminal.send_ticks((6, NOW - 3000))
    seen_by_another: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: seen_by_another.append(sum(map(len, published))))

    await _until(lambda: sum(map(len, published)) == 6)
    assert seen_by_another == [2]  # the loop ran something else after the first slice
    assert published == [[1, 2], [3, 4], [5], [6]]  # cut at two ticks, in order
    acks: list[int] = []
    await _until(lambda: acks.extend(a["seq"] for a in conn.answers()) or acks[-1:] == [6])
    assert acks == sorted(acks)  # cumulative, in order
    assert await _stored(conn.store) == [NOW - 9000 + seq * 100 for seq in range(1, 6)] + [
        NOW - 3000
    ]
    conn.terminal.disconnect()
    with pytest.raises(WebSocketDisconnect):
        await conn.serving  # type: ignore[misc]
