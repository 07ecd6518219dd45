"""Every bad-input class through a real ingestion session: its code, nothing stored."""

import asyncio
import json
from pathlib import Path

import orjson
import pytest

from chainflow.bridge.events import ExecutionReported, executions_topic
from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.ingest_protocol import ProtocolViolation
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.bus import open_bus
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries
from tests.bridge.principals import ticks_writer

NOW = 1_800_000_000_000
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]


@pytest.fixture
async def session(tmp_path: Path):
    clock = SimulatedClock(NOW)
    store = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await store.start()
    bus = open_bus(BusSettings())
    await bus.start()
    cache = open_cache(CacheSettings(), clock)
    principal = ticks_writer(TenantId("t1"))
    validator = TickValidator(ValidationConfig(), clock, SymbolNormalizer())
    feed = TenantFeed("t1", validator, LIMITS.ticks_per_second)
    ingest = IngestSession(
        principal=principal, feed=feed, store=store, bus=bus, cache=cache, clock=clock
    )
    # A valid history first, so that the spread and spike checks are warmed up.
    history = [_tick(NOW - 60_000 + i * 100, 1.1 + (i % 2) * 1e-5, i + 1) for i in range(40)]
    frames = await ingest.handle_text(json.dumps({"type": "ticks", "items": history}))
    assert frames == [{"type": "ack", "seq": 40}]
    yield ingest, store
    await bus.close()
    await store.close()


def _tick(ts: int, bid: float, seq: int, **changes: object) -> dict:
    return {
        "symbol": "EURUSD",
        "ts": ts,
        "bid": bid,
        "ask": round(bid + 0.0001, 5),
        "volume": 1.0,
        "seq": seq,
        **changes,
    }


async def _stored(store) -> int:
    return len(await store.scan_ticks(TenantId("t1"), "EURUSD", 0, NOW + 10**9))


BAD_INPUTS = {
    "invalid_schema": {"bid": "1.1"},
    "invalid_symbol": {"symbol": "EUR USD!"},
    "non_finite_price": {"bid": float("inf")},
    "non_positive_price": {"bid": -1.0, "ask": 1.0},
    "crossed_quote": {"bid": 1.2, "ask": 1.1},
    "spread_outlier": {"bid": 1.1, "ask": 1.2},
    "quarantined": {"bid": 1.5, "ask": 1.5001},
    "price_out_of_range": {"bid": 1e-300, "ask": 1e-300},
    "future_timestamp": {"ts": NOW + 60_000},
    "stale_timestamp": {"ts": NOW - 400 * 86_400_000},
    "duplicate": {"ts": NOW - 60_000, "bid": 1.1, "ask": 1.1001},
    "invalid_volume": {"volume": -3},
}


class TestBadInput:
    @pytest.mark.parametrize("code", sorted(BAD_INPUTS))
    async def test_each_class_gets_its_code_and_nothing_is_stored(self, session, code) -> None:
        ingest, store = session
        before = await _stored(store)
        bad = {**_tick(NOW - 1_000, 1.1, 41), **BAD_INPUTS[code]}
        raw = json.dumps({"type": "tick", **bad}).replace("Infinity", "1e999")
        frames = await ingest.handle_text(raw)
        assert frames[0]["type"] == "error" and frames[0]["code"] == code
        assert frames[0]["seq"] == 41 and frames[-1] == {"type": "ack", "seq": 41}
        assert await _stored(store) == before
        # The session goes on: the next good tick is stored and acked.
        frames = await ingest.handle_text(json.dumps({"type": "tick", **_tick(NOW - 500, 1.1, 42)}))
        assert frames == [{"type": "ack", "seq": 42}]
        assert await _stored(store) == before + 1

    async def test_a_batch_over_the_limit_is_a_protocol_violation(self, session) -> None:
        ingest, _ = session
        items = [_tick(NOW - 1_000 + i, 1.1, 41 + i) for i in range(1001)]
        with pytest.raises(ProtocolViolation, match="at most 1000"):
            await ingest.handle_text(json.dumps({"type": "ticks", "items": items}))

    async def test_unknown_message_type_is_an_error_frame(self, session) -> None:
        ingest, _ = session
        frames = await ingest.handle_text(json.dumps({"type": "trade"}))
        assert frames[0]["code"] == "invalid_schema" and "received 'trade'" in frames[0]["message"]


EXECUTION = {
    "type": "execution",
    "symbol": "eurusd",
    "side": "BUY",
    "volume": 0.1,
    "price": 1.10012,
    "ticket": 987,
    "ts": NOW - 1_000,
}


class TestExecutionReports:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            ({"price": None}, "expected 'price' to be a valid number; received NoneType None"),
            ({"side": "hold"}, "expected 'side' to be 'buy' or 'sell'; received str 'hold'"),
            ({"volume": 0}, "expected 'volume' to be greater than 0; received int 0"),
            ({"price": "abc"}, "expected 'price' to be a valid number; received str 'abc'"),
            ({"ts": "yesterday"}, "expected 'ts' to be integer epoch milliseconds or an ISO"),
            # Once an OverflowError from float() that ended the connection with 1006.
            ({"volume": int("9" * 401)}, "expected 'volume' to be a valid number; received int"),
            ({"symbol": ["EURUSD"]}, "expected 'symbol' to be a valid string; received list"),
            ({"ticket": "x" * 65}, "expected 'ticket' to be a string of at most 64 characters"),
            ({"price": 1e300}, "expected 'price' to be less than or equal to 1000000000000;"),
        ],
    )
    async def test_a_bad_report_is_an_error_frame_and_nothing_is_published(
        self, session, change: dict, expected: str
    ) -> None:
        ingest, _ = session
        published: list[bytes] = []

        async def on(message) -> None:  # type: ignore[no-untyped-def]
            published.append(message.data)

        await ingest._bus.subscribe(executions_topic("t1"), on)
        frames = await ingest.handle_text(json.dumps({**EXECUTION, **change}))
        assert len(frames) == 1 and frames[0]["code"] == "invalid_schema"
        assert expected in frames[0]["message"]
        await asyncio.sleep(0.05)
        assert published == []

    async def test_a_good_report_is_published_for_reconciliation(self, session) -> None:
        ingest, _ = session
        published: list[ExecutionReported] = []

        async def on(message) -> None:  # type: ignore[no-untyped-def]
            published.append(ExecutionReported.from_json(message.data))

        await ingest._bus.subscribe(executions_topic("t1"), on)
        assert await ingest.handle_text(json.dumps(EXECUTION)) == []  # no frame: accepted
        for _ in range(100):
            if published:
                break
            await asyncio.sleep(0.01)
        (report,) = published
        assert report.connection == ingest.connection_id
        assert report.fields == {
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 0.1,
            "price": 1.10012,
            "ticket": "987",
            "ts": NOW - 1_000,
        }

    async def test_a_symbol_that_does_not_normalize_is_invalid_symbol(self, session) -> None:
        ingest, _ = session
        frames = await ingest.handle_text(json.dumps({**EXECUTION, "symbol": "EUR USD!", "seq": 7}))
        assert [(f["code"], f["seq"]) for f in frames] == [("invalid_symbol", 7)]


class TestHello:
    async def test_a_good_hello_is_echoed_with_symbols_upper_case(self, session) -> None:
        ingest, _ = session
        hello = {"type": "hello", "signals": "every_tick", "symbols": ["eurusd", " gbpusd "]}
        frames = await ingest.handle_text(json.dumps(hello))
        assert frames == [
            {"type": "hello", "signals": "every_tick", "symbols": ["EURUSD", "GBPUSD"]}
        ]
        assert ingest.signals_mode == "every_tick"

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            ({"symbols": 5}, "expected 'symbols' to be a valid list; received int 5"),
            ({"symbols": "EURUSD"}, "expected 'symbols' to be a valid list; received str"),
            ({"symbols": ["EURUSD", 5]}, "expected 'symbols'[1] to be a valid string"),
            ({"symbols": ["X"] * 1001}, "to be a list of at most 1000 items; received 1001"),
            ({"signals": ["x"]}, "expected 'signals' to be 'on_change' or 'every_tick'"),
        ],
    )
    async def test_a_bad_hello_is_an_error_frame_and_changes_nothing(
        self, session, change: dict, expected: str
    ) -> None:
        ingest, _ = session
        frames = await ingest.handle_text(json.dumps({"type": "hello", **change}))
        assert len(frames) == 1 and frames[0]["code"] == "invalid_schema"
        assert expected in frames[0]["message"]
        assert (ingest.signals_mode, ingest.symbols) == ("on_change", ())


class TestHostileFrames:
    """Frames that once raised out of ``handle_text`` and dropped the connection with 1006."""

    @pytest.mark.parametrize(
        "text",
        [
            "[" * 100_000,  # RecursionError in json.loads
            '{"type":"ticks","items":' + "[" * 5000 + "]" * 5000 + "}",  # the same, in items
            '{"type":"tick","symbol":' + "[" * 900 + "]" * 900 + ',"ts":1,"bid":1,"ask":1}',
            '{"type":"hello","symbols":5}',  # TypeError: 'int' object is not iterable
            '{"type":"ticks","items":[1,' + "9" * 5000 + "]}",  # past the int digit limit
        ],
    )
    async def test_each_is_answered_invalid_schema_and_nothing_is_stored(
        self, session, text: str
    ) -> None:
        ingest, store = session
        before = await _stored(store)
        frames = await ingest.handle_text(text)
        assert [f["code"] for f in frames] == ["invalid_schema"]
        assert await _stored(store) == before

    async def test_a_seq_past_64_bits_is_refused_so_the_answer_can_be_encoded(
        self, session
    ) -> None:
        ingest, store = session
        before = await _stored(store)
        tick = {"type": "tick", **_tick(NOW - 1_000, 1.1, 2**70)}
        frames = await ingest.handle_text(json.dumps(tick))
        assert [(f["code"], f["seq"]) for f in frames] == [("invalid_schema", None)]
        orjson.dumps(frames)  # once "Integer exceeds 64-bit range" in the endpoint loop
        assert await _stored(store) == before

    async def test_a_message_level_error_echoes_a_valid_seq(self, session) -> None:
        ingest, _ = session
        frames = await ingest.handle_text(json.dumps({"type": "ticks", "items": {}, "seq": 9}))
        assert (
            frames[0]["seq"] == 9 and "expected 'items' to be a valid list" in frames[0]["message"]
        )
