"""Resends never store a tick twice: within a session, across sessions and across restarts.

docs/mt5-protocol.md §8: a client resends every tick no ack covered (up to its whole unacked
window) after a reconnect; the server refuses the ones it stored as ``duplicate``. These
tests resend more ticks than any in-memory filter remembers, and after a restart, and check
the stored ticks, the bars built from them and what the hot path was given.
"""

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chainflow.bridge.bar_table import read_bars
from chainflow.bridge.events import TicksAccepted, ticks_topic
from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import DependencyUnavailable
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.api import EventBus
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries
from tests.bridge.principals import ticks_writer

NOW = 1_800_000_000_000
TENANT = TenantId("t1")
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]
START = NOW - 20 * 60_000  # 8,000 ticks 100 ms apart, well before NOW


def _ticks(count: int) -> list[dict]:
    """Return ``count`` EURUSD ticks 100 ms apart on a gentle random walk, without seq."""
    rng = random.Random(5)
    bid, items = 1.1, []
    for i in range(count):
        bid = round(bid + rng.choice((-1, 0, 1)) * 1e-5, 5)
        items.append(
            {
                "symbol": "EURUSD",
                "ts": START + i * 100,
                "bid": bid,
                "ask": round(bid + 1.2e-4, 5),
                "volume": float(1 + i % 3),
            }
        )
    return items


@dataclass
class Server:
    """One "process": a store on a file, a bus, a tenant feed; restartable on the same file."""

    path: Path
    store: TimeSeriesStore | None = None
    bus: EventBus | None = None
    published: int = 0

    async def start(self) -> None:
        self.store = open_timeseries(f"duckdb:///{self.path}", TimeSeriesSettings())
        await self.store.start()
        self.bus = open_bus(BusSettings())
        await self.bus.start()
        self.published = 0

        async def count(message) -> None:
            self.published += len(TicksAccepted.from_json(message.data).ticks)

        await self.bus.subscribe(ticks_topic(TENANT, "EURUSD"), count)
        clock = SimulatedClock(NOW)
        validator = TickValidator(ValidationConfig(), clock, SymbolNormalizer())
        self.feed = TenantFeed(TENANT, validator, LIMITS.ticks_per_second)
        self.cache = open_cache(CacheSettings(), clock)
        self.clock = clock

    async def stop(self) -> None:
        assert self.bus is not None and self.store is not None
        await self.bus.close()
        await self.store.close()

    def connect(self) -> IngestSession:
        principal = ticks_writer(TENANT)
        assert self.store is not None and self.bus is not None
        return IngestSession(
            principal=principal,
            feed=self.feed,
            store=self.store,
            bus=self.bus,
            cache=self.cache,
            clock=self.clock,
        )

    async def send(self, session: IngestSession, items: list[dict]) -> list[dict]:
        """Send ``items`` in batches of 1,000 with seqs 1..N; return every frame answered."""
        frames: list[dict] = []
        for start in range(0, len(items), 1000):
            batch = [
                {**item, "seq": start + i + 1} for i, item in enumerate(items[start : start + 1000])
            ]
            self.clock.advance_ms(1000)  # within the tier's ticks per second
            frames += await session.handle_text(json.dumps({"type": "ticks", "items": batch}))
        return frames

    async def stored(self) -> list[tuple[int, float, float]]:
        assert self.store is not None
        ticks = await self.store.scan_ticks(TENANT, "EURUSD", 0, NOW + 60_000)
        return [(t.ts, t.bid, t.ask) for t in ticks]

    async def published_settled(self) -> int:
        await asyncio.sleep(0.05)  # the in-process bus hands messages to a worker task
        return self.published


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = Server(tmp_path / "ts.duckdb")
    await server.start()
    yield server
    await server.stop()


def _last_ack(frames: list[dict]) -> int | None:
    acks = [f["seq"] for f in frames if f["type"] == "ack"]
    return acks[-1] if acks else None


def _expected_m1(items: list[dict]) -> dict[int, tuple[float, int]]:
    """Return volume and tick count of every M1 bucket of ``items``."""
    buckets: dict[int, tuple[float, int]] = {}
    for item in items:
        bucket = item["ts"] - item["ts"] % 60_000
        volume, count = buckets.get(bucket, (0.0, 0))
        buckets[bucket] = (volume + item["volume"], count + 1)
    return buckets


async def _stored_m1(server: Server) -> dict[int, tuple[float, int]]:
    assert server.store is not None
    bars = await read_bars(server.store, TENANT, "EURUSD", Timeframe.M1, end_ms=NOW, count=1000)
    return {bar.ts: (bar.volume, bar.tick_count) for bar in bars}


class TestResendInOneProcess:
    async def test_resend_of_6000_after_6000_stores_nothing_and_keeps_bars_exact(
        self, server: Server
    ) -> None:
        items = _ticks(6000)
        first = await server.send(server.connect(), items)
        assert _last_ack(first) == 6000

        again = await server.send(server.connect(), items)  # reconnect, resend everything

        assert _last_ack(again) == 6000
        assert {f["code"] for f in again if f["type"] == "error"} == {"duplicate"}
        assert await server.stored() == [(i["ts"], i["bid"], i["ask"]) for i in items]
        expected = _expected_m1(items)
        closed = {ts: v for ts, v in expected.items() if ts < max(expected)}  # last one is open
        assert await _stored_m1(server) == closed
        assert await server.published_settled() == 6000  # the hot path saw each tick once


class TestResendAfterRestart:
    async def test_unacked_window_resent_after_restart_is_stored_once(self, server: Server) -> None:
        items = _ticks(8000)
        await server.send(server.connect(), items[:6000])
        await server.stop()  # the process ends; nothing in memory survives
        await server.start()

        # The client never saw acks for its last 5,000 ticks: it resends them with 2,000 new.
        frames = await server.send(server.connect(), items[1000:])

        assert _last_ack(frames) == 7000
        assert await server.stored() == [(i["ts"], i["bid"], i["ask"]) for i in items]
        assert await server.published_settled() == 2000  # only the new ticks were scored
        expected = _expected_m1(items)
        closed = {ts: v for ts, v in expected.items() if ts < max(expected)}
        assert await _stored_m1(server) == closed

    async def test_resend_in_small_batches_after_restart_publishes_only_new_ticks(
        self, server: Server
    ) -> None:
        items = _ticks(3000)
        await server.send(server.connect(), items[:2000])
        await server.stop()
        await server.start()
        session = server.connect()

        frames: list[dict] = []
        for start in range(1000, 3000, 100):  # the stored 1,000 then 1,000 new, 100 at a time
            server.clock.advance_ms(100)
            batch = [
                {**item, "seq": start + i + 1} for i, item in enumerate(items[start : start + 100])
            ]
            frames += await session.handle_text(json.dumps({"type": "ticks", "items": batch}))

        assert _last_ack(frames) == 3000
        assert len(await server.stored()) == 3000
        assert await server.published_settled() == 1000


class FailingOnce:
    """The server's bus, whose next publish fails as JetStream's PubAck timing out."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.backend = bus.backend
        self.partitions = bus.partitions
        self.failures = 1

    async def publish(self, subject: str, data: bytes, *, headers: object = None) -> None:
        if self.failures:
            self.failures -= 1
            raise DependencyUnavailable("JetStream did not acknowledge the event in time")
        await self._bus.publish(subject, data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._bus, name)


class TestResendAfterAFailedPublish:
    async def test_a_live_tick_whose_publish_failed_is_stored_when_resent(
        self, server: Server
    ) -> None:
        # A live tick is published before it is stored; when that publish fails, nothing is
        # stored or acked. The resend (same connection's feed) must be stored and acked, not
        # refused as a duplicate of the tick the validator saw the first time.
        items = _ticks(3)
        session = server.connect()
        assert _last_ack(await server.send(session, items[:1])) == 1  # the live edge is known
        assert server.bus is not None
        real = server.bus
        server.bus = FailingOnce(real)  # type: ignore[assignment]
        failing = server.connect()
        with pytest.raises(DependencyUnavailable):
            await server.send(failing, items[1:])
        assert await server.stored() == [(i["ts"], i["bid"], i["ask"]) for i in items[:1]]
        server.bus = real

        frames = await server.send(server.connect(), items[1:])  # the reconnect's resend

        assert _last_ack(frames) == 2
        assert not [f for f in frames if f["type"] == "error"]
        assert await server.stored() == [(i["ts"], i["bid"], i["ask"]) for i in items]
