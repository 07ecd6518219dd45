"""Rollups kept incrementally equal the same figures rebuilt from the raw trade rows, on the
embedded column store (DuckDB) and on ClickHouse SQL (chDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainflow.analytics.repository import AnalyticsRepository, trade_row
from chainflow.analytics.rollups import Figures, breakdown_keys, rollup_of
from chainflow.analytics.tables import DIMENSIONS, TRADES_TABLE
from chainflow.storage.api import TimeSeriesStore
from tests.analytics.builders import (
    JAN_1_2024,
    ListedTrades,
    analytics_on,
    make_trade,
    random_trades,
    started_store,
    store_url,
)


@pytest.fixture(params=["duckdb", "chdb"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def stored_rollups(store: TimeSeriesStore, tenant_id: str) -> dict[str, Any]:
    repository = AnalyticsRepository(store, tenant_id)
    return {
        "daily": await repository.daily(),
        "breakdown": {d: sorted(await repository.breakdown(d)) for d in DIMENSIONS},
        "cursor": await repository.cursor(),
    }


def figures_from_raw(trades: list[Any]) -> dict[str, Any]:
    """The rollup figures computed directly from trades, without the rollup code."""
    daily: dict[int, Figures] = {}
    for trade in trades:
        day = trade.exit_ts - trade.exit_ts % 86_400_000
        daily.setdefault(day, Figures()).add(trade.pnl)
    return {"days": sorted(daily), "pnl": sum(t.pnl for t in trades), "count": len(trades)}


class TestIncrementalEqualsRebuild:
    async def test_batches_then_rebuild_store_the_same_rows(
        self, backend: str, tmp_path: Path
    ) -> None:
        trades = random_trades(600)
        async with started_store(store_url(backend, tmp_path)) as store:
            async with analytics_on(store) as service:
                for start, stop in ((0, 1), (1, 50), (50, 51), (51, 333), (333, 600)):
                    assert await service.ingest("tenant-a", trades[start:stop]) == stop - start
                incremental = await stored_rollups(store, "tenant-a")
                assert await service.rebuild_rollups("tenant-a") == 600
                rebuilt = await stored_rollups(store, "tenant-a")
        assert incremental == rebuilt
        assert incremental["cursor"] == 600
        raw = figures_from_raw(trades)
        assert [day for day, _ in rebuilt["daily"]] == raw["days"]
        assert sum(f.trades for _, f in rebuilt["daily"]) == raw["count"]
        assert sum(f.pnl for _, f in rebuilt["daily"]) == pytest.approx(raw["pnl"], abs=1e-6)
        for dimension in ("symbol", "model", "regime", "session"):
            rows = rebuilt["breakdown"][dimension]
            assert sum(f.trades for _, f in rows) == 600

    async def test_each_group_equals_its_trades_summed(self, tmp_path: Path) -> None:
        trades = random_trades(200, seed=3)
        async with started_store(store_url("duckdb", tmp_path)) as store:
            async with analytics_on(store) as service:
                await service.ingest("t", trades)
                stored = await stored_rollups(store, "t")
        for dimension in DIMENSIONS:
            for key, figures in stored["breakdown"][dimension]:
                members = [t for t in trades if (dimension, key) in breakdown_keys(t)]
                assert figures.trades == len(members)
                assert figures.wins == sum(t.pnl > 0 for t in members)
                assert figures.pnl == pytest.approx(sum(t.pnl for t in members), abs=1e-9)

    async def test_replayed_trades_are_not_counted_twice(self, tmp_path: Path) -> None:
        trades = random_trades(40)
        async with started_store(store_url("duckdb", tmp_path)) as store:
            async with analytics_on(store) as service:
                await service.ingest("t", trades[:30])
                assert await service.ingest("t", trades) == 10
                stored = await stored_rollups(store, "t")
        assert sum(f.trades for _, f in stored["daily"]) == 40


class TestRestart:
    async def test_a_new_process_continues_from_the_cursor(self, tmp_path: Path) -> None:
        source = ListedTrades()
        source.trades["t"] = random_trades(80)
        url = store_url("duckdb", tmp_path)
        async with started_store(url) as store, analytics_on(store, source) as service:
            assert await service.catch_up("t") == 80
        source.trades["t"].extend(random_trades(100)[80:])
        async with started_store(url) as store, analytics_on(store, source) as service:
            assert await service.catch_up("t") == 20
            continued = await stored_rollups(store, "t")
            await service.rebuild_rollups("t")
            assert await stored_rollups(store, "t") == continued

    async def test_raw_rows_ahead_of_the_cursor_are_rebuilt_on_load(self, tmp_path: Path) -> None:
        trades = [make_trade(i, JAN_1_2024 + i * 3_600_000, 10.0 * (i + 1)) for i in range(5)]
        url = store_url("duckdb", tmp_path)
        async with started_store(url) as store, analytics_on(store) as service:
            await service.ingest("t", trades[:3])
            # A write cut short: the raw rows of two more trades, no rollup rows, no cursor.
            await store.append(TRADES_TABLE.name, [trade_row("t", t) for t in trades[3:]])
        async with started_store(url) as store, analytics_on(store) as service:
            assert await service.ingest("t", trades) == 0
            daily = await AnalyticsRepository(store, "t").daily()
        assert daily == [(JAN_1_2024, rollup_of(trades).daily[JAN_1_2024])]
        assert daily[0][1].pnl == 150.0 and daily[0][1].trades == 5
