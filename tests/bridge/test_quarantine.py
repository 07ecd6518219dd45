"""The tick quarantine: held ticks survive restarts, are listed, released over HTTP, stored once."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.price_sanity import HeldTick, HoldReason
from chainflow.bridge.quarantine import TickQuarantine
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Principal, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries
from tests.bridge.principals import ticks_writer
from tests.fixtures.api_client import logged_in_client

NOW = 1_800_000_000_000
T1 = TenantId("t1")
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]


def held(ts: int, mid: float, symbol: str = "EURUSD", reason=HoldReason.PRICE_BAND) -> HeldTick:
    return HeldTick(Tick(symbol, ts, mid, round(mid + 0.0002, 6), 1.0), reason)


async def open_store(path: Path) -> TimeSeriesStore:
    store = open_timeseries(f"duckdb:///{path}", TimeSeriesSettings())
    await store.start()
    return store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = await open_store(tmp_path / "ts.duckdb")
    yield opened
    await opened.close()


class TestHoldAndList:
    async def test_held_ticks_are_listed_oldest_first_per_tenant_and_symbol(
        self, store: TimeSeriesStore
    ) -> None:
        quarantine = TickQuarantine(store, SimulatedClock(NOW))
        await quarantine.hold(T1, [held(NOW - 20, 11.0), held(NOW - 30, 12.0)])
        await quarantine.hold(T1, [held(NOW - 25, 42.0, "ACME", HoldReason.NEW_SYMBOL)])
        await quarantine.hold(TenantId("t2"), [held(NOW - 10, 13.0)])
        page = await quarantine.list_held(T1, "EURUSD", 0, NOW, limit=10)
        assert [(i.tick.ts, i.tick.bid, i.reason, i.held_at) for i in page.items] == [
            (NOW - 30, 12.0, "price_band", NOW),
            (NOW - 20, 11.0, "price_band", NOW),
        ]
        assert page.next_start is None
        acme = await quarantine.list_held(T1, "ACME", 0, NOW, limit=10)
        assert [i.reason for i in acme.items] == ["new_symbol"]

    async def test_a_tick_held_twice_is_listed_once(self, store: TimeSeriesStore) -> None:
        quarantine = TickQuarantine(store, SimulatedClock(NOW))
        await quarantine.hold(T1, [held(NOW - 20, 11.0)])
        await quarantine.hold(T1, [held(NOW - 20, 11.0)])
        assert len((await quarantine.list_held(T1, "EURUSD", 0, NOW, 10)).items) == 1

    async def test_pages_never_split_a_millisecond(self, store: TimeSeriesStore) -> None:
        quarantine = TickQuarantine(store, SimulatedClock(NOW))
        ticks = [held(NOW - 100 + i // 2, 11.0 + i) for i in range(10)]  # two per ms
        await quarantine.hold(T1, ticks)
        seen: list[int] = []
        start: int | None = 0
        while start is not None:
            page = await quarantine.list_held(T1, "EURUSD", start, NOW, limit=3)
            assert len(page.items) <= 3
            seen += [i.tick.ts for i in page.items]
            start = page.next_start
        assert seen == [t.tick.ts for t in ticks]

    async def test_held_ticks_survive_a_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "restart.duckdb"
        first = await open_store(path)
        await TickQuarantine(first, SimulatedClock(NOW)).hold(T1, [held(NOW - 20, 11.0)])
        await first.close()
        second = await open_store(path)
        try:
            page = await TickQuarantine(second, SimulatedClock(NOW)).list_held(
                T1, "EURUSD", 0, NOW, 10
            )
            assert [i.tick.bid for i in page.items] == [11.0]
        finally:
            await second.close()


class TestRelease:
    async def test_release_stores_the_range_once_and_empties_it(
        self, store: TimeSeriesStore
    ) -> None:
        quarantine = TickQuarantine(store, SimulatedClock(NOW))
        await quarantine.hold(T1, [held(NOW - 30, 11.0), held(NOW - 20, 12.0), held(NOW - 5, 13.0)])
        result = await quarantine.release(T1, "EURUSD", NOW - 30, NOW - 10)
        assert (result.released, result.stored, result.next_start) == (2, 2, None)
        stored = await store.scan_ticks(T1, "EURUSD", 0, NOW)
        assert [(t.ts, t.bid) for t in stored] == [(NOW - 30, 11.0), (NOW - 20, 12.0)]
        left = await quarantine.list_held(T1, "EURUSD", 0, NOW, 10)
        assert [i.tick.ts for i in left.items] == [NOW - 5]
        again = await quarantine.release(T1, "EURUSD", NOW - 30, NOW - 10)
        assert (again.released, again.stored) == (0, 0)
        assert len(await store.scan_ticks(T1, "EURUSD", 0, NOW)) == 2


def principal() -> Principal:
    return ticks_writer(T1)


@pytest.fixture
async def ingest(store: TimeSeriesStore) -> AsyncIterator[IngestSession]:
    clock = SimulatedClock(NOW)
    bus = open_bus(BusSettings())
    await bus.start()
    validator = TickValidator(ValidationConfig(), clock, SymbolNormalizer())
    session = IngestSession(
        principal=principal(),
        feed=TenantFeed("t1", validator, LIMITS.ticks_per_second),
        store=store,
        bus=bus,
        cache=open_cache(CacheSettings(), clock),
        clock=clock,
    )
    yield session
    await bus.close()


def wire(symbol: str, ts: int, bid: float, seq: int) -> dict:
    return {"symbol": symbol, "ts": ts, "bid": bid, "ask": round(bid * 1.0001, 6), "seq": seq}


class TestIngestion:
    async def test_a_new_symbols_ticks_are_held_then_stored_together(
        self, ingest: IngestSession, store: TimeSeriesStore
    ) -> None:
        items = [wire("ACME", NOW - 1_000 + i, 42.0 + i * 0.01, i + 1) for i in range(4)]
        frames = await ingest.handle_text(json.dumps({"type": "ticks", "items": items}))
        assert [(f["code"], f["seq"]) for f in frames[:-1]] == [
            ("quarantined", s) for s in (1, 2, 3, 4)
        ]
        assert frames[-1] == {"type": "ack", "seq": 4}  # settled: the client does not resend
        assert await store.scan_ticks(T1, "ACME", 0, NOW) == []
        quarantine = TickQuarantine(store, SimulatedClock(NOW))
        assert len((await quarantine.list_held(T1, "ACME", 0, NOW, 10)).items) == 4
        fifth = {"type": "tick", **wire("ACME", NOW - 900, 42.05, 5)}
        assert await ingest.handle_text(json.dumps(fifth)) == [{"type": "ack", "seq": 5}]
        stored = await store.scan_ticks(T1, "ACME", 0, NOW)
        assert [t.ts for t in stored] == [NOW - 1_000 + i for i in range(4)] + [NOW - 900]
        assert (await quarantine.list_held(T1, "ACME", 0, NOW, 10)).items == []

    async def test_absurd_and_spiking_ticks_are_refused_and_only_spikes_kept(
        self, ingest: IngestSession, store: TimeSeriesStore
    ) -> None:
        history = [
            wire("EURUSD", NOW - 60_000 + i * 100, 1.1 + (i % 2) * 1e-5, i + 1) for i in range(40)
        ]
        await ingest.handle_text(json.dumps({"type": "ticks", "items": history}))
        absurd = [
            {**wire("EURUSD", NOW - 1_000, 1.1, 41), "bid": 1e-300, "ask": 1e-300},
            {**wire("EURUSD", NOW - 999, 1.1, 42), "bid": 1e-9, "ask": 1e9},
            wire("EURUSD", NOW - 998, 1.6, 43),
        ]
        frames = await ingest.handle_text(json.dumps({"type": "ticks", "items": absurd}))
        assert [f.get("code") for f in frames] == [
            "price_out_of_range",
            "price_out_of_range",
            "quarantined",
            None,
        ]
        assert frames[-1] == {"type": "ack", "seq": 43}
        assert len(await store.scan_ticks(T1, "EURUSD", 0, NOW)) == 40
        page = await TickQuarantine(store, SimulatedClock(NOW)).list_held(T1, "EURUSD", 0, NOW, 10)
        assert [(i.tick.bid, i.reason) for i in page.items] == [(1.6, "price_spike")]


class TestQuarantineOverHttp:
    async def test_list_and_release_over_http(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path / "home") as (http, kernel, tenant_id):
            now = kernel.clock.now_ms()
            quarantine = TickQuarantine(kernel.infra.timeseries, kernel.clock)
            tenant = TenantId(tenant_id)
            await quarantine.hold(tenant, [held(now - 3_000, 10.9), held(now - 2_000, 11.0)])
            await quarantine.hold(tenant, [held(now - 1_000, 11.1)])
            listed = await http.get("/api/v1/market/quarantine", params={"symbol": "eurusd"})
            assert listed.status_code == 200, listed.text
            body = listed.json()
            assert body["symbol"] == "EURUSD" and body["next_start"] is None
            assert [(i["ts"], i["bid"], i["reason"]) for i in body["items"]] == [
                (now - 3_000, 10.9, "price_band"),
                (now - 2_000, 11.0, "price_band"),
                (now - 1_000, 11.1, "price_band"),
            ]
            release = {"symbol": "EURUSD", "start": now - 3_000, "end": now - 1_000}
            released = await http.post("/api/v1/market/quarantine/release", json=release)
            assert released.status_code == 200, released.text
            assert released.json() == {
                "symbol": "EURUSD",
                "released": 2,
                "stored": 2,
                "next_start": None,
            }
            ticks = await http.get("/api/v1/market/ticks", params={"symbol": "EURUSD"})
            assert [t["bid"] for t in ticks.json()["items"]] == [10.9, 11.0]
            left = await http.get("/api/v1/market/quarantine", params={"symbol": "EURUSD"})
            assert [i["ts"] for i in left.json()["items"]] == [now - 1_000]

    async def test_bad_symbol_and_range_are_422(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path / "home") as (http, _, _):
            bad = await http.get("/api/v1/market/quarantine", params={"symbol": "EUR/USD"})
            assert bad.status_code == 422
            assert "expected a symbol such as EURUSD" in bad.json()["error"]["message"]
            empty = {"symbol": "EURUSD", "start": 10, "end": 5}
            refused = await http.post("/api/v1/market/quarantine/release", json=empty)
            assert refused.status_code == 422

    async def test_an_end_beyond_int64_is_clamped_not_a_server_error(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path / "home") as (http, _, _):
            params = {"symbol": "EURUSD", "start": 0, "end": 10**40}
            listed = await http.get("/api/v1/market/quarantine", params=params)
            assert listed.status_code == 200 and listed.json()["items"] == []
            ticks = await http.get("/api/v1/market/ticks", params=params)
            assert ticks.status_code == 200
            release = {"symbol": "EURUSD", "start": 0, "end": 10**40}
            released = await http.post("/api/v1/market/quarantine/release", json=release)
            assert released.status_code == 200 and released.json()["released"] == 0
