"""``WS /ws/ticks``'s per-frame answer: encoded frames, and which failures end the connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from chainflow.bridge.ingest import IngestSession, TenantFeed
from chainflow.bridge.ingest_protocol import ProtocolViolation
from chainflow.bridge.message_guard import MessageGuard
from chainflow.bridge.routes import RetryLater, answer_text
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import TIER_LIMITS, Principal, Role, Scope, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId, UserId
from chainflow.core.settings import BusSettings, CacheSettings, TimeSeriesSettings
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.cache import open_cache
from chainflow.storage.timeseries import open_timeseries

NOW = 1_800_000_000_000
LIMITS = TIER_LIMITS[Tier.ENTERPRISE]


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[tuple[IngestSession, TimeSeriesStore]]:
    clock = SimulatedClock(NOW)
    store = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await store.start()
    bus = open_bus(BusSettings())
    await bus.start()
    principal = Principal(
        UserId("u1"),
        TenantId("t1"),
        Role.TRADER,
        Tier.ENTERPRISE,
        LIMITS,
        frozenset({Scope.TICKS_WRITE}),
        "api_key",
        api_key_id="k1",
    )
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
