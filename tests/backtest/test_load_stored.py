"""Stored bars for a backtest read as columns give exactly the bars the row read gives."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chainflow.backtest.data import bars_from_aggregated, load_stored
from chainflow.bridge.bar_table import BAR_TABLE, bar_rows, persist_bars, read_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TableSpec, TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = TenantId("tenant-load-stored")
SYMBOL = "EURUSD"
M5 = Timeframe.M5.milliseconds
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000
SETTINGS = TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2.0)


def make_bars(count: int, timeframe: Timeframe = Timeframe.M5) -> list[AggregatedBar]:
    rng = random.Random(4)
    bars = []
    for i in range(count):
        ticks = rng.choice((0, 1, 7, 40))  # a bar without ticks has no spread (NaN)
        price = rng.uniform(1.05, 1.15)
        ts = BASE_TS + i * timeframe.milliseconds
        bars.append(
            AggregatedBar(
                SYMBOL,
                timeframe,
                ts,
                price,
                price + 1e-3,
                price - 1e-3,
                price + 1e-4,
                rng.uniform(0, 50),
                ticks,
                1e-5,
                3e-5,
                rng.uniform(0, 1e-3) * ticks,
                ts,
                ts + 1,
            )
        )
    return bars


async def old_load_stored(
    store: TimeSeriesStore, start_ms: int | None, end_ms: int, count: int
) -> object:
    rows = await read_bars(store, TENANT, SYMBOL, Timeframe.M5, end_ms=end_ms, count=count)
    kept = [b for b in rows if start_ms is None or b.ts >= start_ms]
    return bars_from_aggregated(kept, SYMBOL, "M5")


def assert_same_bars(got: object, expected: object) -> None:
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    assert np.array_equal(got.spread, expected.spread, equal_nan=True)
    assert (got.symbol, got.timeframe) == (expected.symbol, expected.timeframe)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb://{tmp_path}/bars.duckdb", SETTINGS)
    await opened.start()
    yield opened
    await opened.close()


class TestLoadStored:
    @pytest.mark.parametrize(
        ("start", "end"),
        [(0, 300), (17, 205), (None, 300), (40, 41)],
    )
    async def test_columns_give_the_bars_the_rows_gave(
        self, store: TimeSeriesStore, start: int | None, end: int
    ) -> None:
        bars = make_bars(260)
        hours = make_bars(30, Timeframe.H1)
        revised = [replace(b, tick_count=b.tick_count + 3, close=2.0) for b in bars[100:110]]
        await persist_bars(store, TENANT, [*bars, *hours, *revised])
        start_ms = None if start is None else BASE_TS + start * M5
        end_ms = BASE_TS + end * M5
        count = 2_000_000 if start_ms is None else math.ceil((end_ms - start_ms) / M5) + 1

        got = await load_stored(
            store, TENANT, SYMBOL, Timeframe.M5, start_ms=start_ms, end_ms=end_ms
        )

        assert_same_bars(got, await old_load_stored(store, start_ms, end_ms, count))
        if (start or 0) <= 100 < end:  # the revision (more ticks) is the bar read
            assert got.close[100 - (start or 0)] == 2.0

    async def test_rows_kept_per_revision_reduce_to_the_latest(self, tmp_path: Path) -> None:
        # A table created before bars replaced by key holds one row per revision.
        url = f"duckdb://{tmp_path}/legacy.duckdb"
        legacy = open_timeseries(url, SETTINGS)
        await legacy.start()
        await legacy.ensure_table(TableSpec(BAR_TABLE.name, BAR_TABLE.values))
        bars = make_bars(50)
        revisions = [
            replace(b, tick_count=b.tick_count + n, close=1.0 + n)
            for n in (2, 1, 3)
            for b in bars[::7]
        ]
        await legacy.append(BAR_TABLE.name, bar_rows(TENANT, [*bars, *revisions]))
        await legacy.close()
        store = open_timeseries(url, SETTINGS)
        await store.start()
        try:
            got = await load_stored(
                store, TENANT, SYMBOL, Timeframe.M5, start_ms=None, end_ms=2**62
            )
            expected = await old_load_stored(store, None, 2**62, 2_000_000)
        finally:
            await store.close()
        assert_same_bars(got, expected)
        assert len(got) == 50 and got.close[7] == 4.0

    async def test_no_bars_in_range_raises_invalid_input(self, store: TimeSeriesStore) -> None:
        await persist_bars(store, TENANT, make_bars(5))
        with pytest.raises(InvalidInput):
            await load_stored(store, TENANT, SYMBOL, Timeframe.H1, start_ms=None, end_ms=2**62)
