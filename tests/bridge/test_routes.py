"""``WS /ws/ticks``'s per-frame answer: encoded frames, and which failures end the connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from chainflow.bridge.frame_pipeline import RetryLater, begin_unit, finish_unit
from chainflow.bridge.frame_units import MAX_MERGED_ITEMS, Unit, sliced_units
from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.ingest_protocol import ProtocolViolation
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries
from tests.bridge.principals import ticks_writer

NOW = 1_800_000_000_000
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]


async def answer_unit(session: IngestSession, unit: Unit, guard: MessageGuard) -> list[str]:
    """The encoded frames answering ``unit``: both stages, as a connection's tasks run them."""
    step = await begin_unit(session, unit, guard)
    return step if isinstance(step, list) else await finish_unit(session, step, guard)


async def answer_text(session: IngestSession, text: str, guard: MessageGuard) -> list[str]:
    """The encoded frames answering one frame read alone."""
    lines: list[str] = []
    for unit in session.units([(text, session.now_us())]):
        lines += await answer_unit(session, unit, guard)
    return lines


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[tuple[IngestSession, TimeSeriesStore]]:
    clock = SimulatedClock(NOW)
    store = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await store.start()
    bus = open_bus(BusSettings())
    await bus.start()
    principal = ticks_writer(TenantId("t1"))
    validator = TickValidator(ValidationConfig(), clock, SymbolNormalizer())
    ingest = IngestSession(
        principal=principal,
        feed=TenantFeed("t1", validator, LIMITS.ticks_per_second),
        store=store,
        bus=bus,
        cache=open_cache(CacheSettings(), clock),
        clock=clock,
    )
    yield ingest, store
    await bus.close()
    await store.close()


def _guard() -> MessageGuard:
    return MessageGuard("/ws/ticks", "c1", "t1")


class TestAnswerText:
    async def test_frames_are_encoded_in_order(self, session) -> None:
        ingest, _ = session
        lines = await answer_text(ingest, '{"type":"hello","symbols":5,"seq":3}', _guard())
        (frame,) = [orjson.loads(line) for line in lines]
        assert (frame["type"], frame["code"], frame["seq"]) == ("error", "invalid_schema", 3)

    async def test_a_batch_over_the_limit_still_closes_the_connection(self, session) -> None:
        ingest, _ = session
        text = json.dumps({"type": "ticks", "items": [{}] * 1001})
        with pytest.raises(ProtocolViolation, match="at most 1000"):
            await answer_text(ingest, text, _guard())

    async def test_a_store_that_is_down_closes_so_that_the_client_resends(self, session) -> None:
        ingest, store = session
        await store.close()
        tick = {
            "type": "tick",
            "symbol": "EURUSD",
            "ts": NOW - 1_000,
            "bid": 1.1,
            "ask": 1.1001,
            "seq": 1,
        }
        guard = _guard()
        with pytest.raises(RetryLater) as closing:
            await answer_text(ingest, json.dumps(tick), guard)
        assert closing.value.error.code == "dependency_unavailable"
        assert guard.failures == 0  # an expected failure, not a bug


def _tick_frame(seq: int) -> str:
    tick = {
        "symbol": "EURUSD",
        "ts": NOW - 10_000 + seq * 10,
        "bid": 1.1,
        "ask": 1.1001,
        "seq": seq,
    }
    return json.dumps({"type": "tick", **tick})


class TestFramesReadTogether:
    """Frames that arrived while the previous ones were being stored are one round: their
    ticks are stored in one commit and acked once, every other frame answered in order."""

    async def test_consecutive_tick_frames_share_one_commit_and_one_ack(self, session) -> None:
        ingest, store = session
        texts = [
            _tick_frame(1),
            _tick_frame(2),
            _tick_frame(3),
            "not json",
            _tick_frame(4),
            json.dumps({"type": "hello", "symbols": ["EURUSD"]}),
        ]
        received_us = [NOW * 1000 + i for i in range(len(texts))]
        units = ingest.units(list(zip(texts, received_us, strict=True)))
        assert [len(u.items) if u.items is not None else None for u in units] == [
            3,
            None,
            1,
            None,
        ]
        assert units[0].received_us == received_us[0]  # the oldest frame's wait counts
        commits = store.stats()["commits"]
        answers = [
            [orjson.loads(line) for line in await answer_unit(ingest, unit, _guard())]
            for unit in units
        ]
        assert answers[0] == [{"type": "ack", "seq": 3}]
        assert answers[1][0]["code"] == "invalid_schema"
        assert answers[2] == [{"type": "ack", "seq": 4}]
        assert answers[3][0]["type"] == "hello"
        assert store.stats()["commits"] == commits + 2  # four tick frames, two commits
        stored = await store.scan_ticks(TenantId("t1"), "EURUSD", 0, NOW)
        assert len(stored) == 4

    async def test_a_violation_closes_after_the_frames_before_it_are_answered(
        self, session
    ) -> None:
        ingest, _ = session
        texts = [_tick_frame(1), json.dumps({"type": "ticks", "items": [{}] * 1001})]
        units = ingest.units([(text, NOW * 1000) for text in texts])
        first = await answer_unit(ingest, units[0], _guard())
        assert [orjson.loads(line) for line in first] == [{"type": "ack", "seq": 1}]
        with pytest.raises(ProtocolViolation, match="at most 1000"):
            await answer_unit(ingest, units[1], _guard())

    def test_merged_units_stop_at_the_item_cap(self) -> None:
        frame = Unit(0, items=[{}] * 1000)
        units = list(
            sliced_units([Unit(i, items=[{}] * 1000) for i in range(6)] + [frame], MAX_MERGED_ITEMS)
        )
        assert [len(u.items or []) for u in units] == [MAX_MERGED_ITEMS, 2000]
        assert [u.received_us for u in units] == [0, 5]
