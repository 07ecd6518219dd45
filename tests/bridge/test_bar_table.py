"""The ``bars`` table: row mapping, the latest-row reducer and the persistence round trip."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chainflow.bridge.bar_aggregator import MultiTimeframeAggregator
from chainflow.bridge.bar_table import (
    BAR_TABLE,
    bar_from_row,
    bar_rows,
    latest_bars,
    persist_bars,
    read_bars,
)
from chainflow.bridge.bars import AggregatedBar, BarRevised
from chainflow.bridge.events import BarPublished
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = TenantId("tenant-bar-table")
SYMBOL = "EURUSD"
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000
FAR_END = 2**62


def make_bar(
    timeframe: Timeframe = Timeframe.M1,
    *,
    ts: int = BASE_TS,
    tick_count: int = 1,
    last_tick_ts: int = BASE_TS,
    close: float = 1.1,
    symbol: str = SYMBOL,
) -> AggregatedBar:
    return AggregatedBar(
        symbol,
        timeframe,
        ts,
        1.1,
        1.2,
        1.0,
        close,
        2.5,
        tick_count,
        0.0001,
        0.0003,
        0.0002 * tick_count,
        ts,
        last_tick_ts,
    )


def make_arrival(count: int, *, seed: int) -> list[Tick]:
    """Return ``count`` ticks a few seconds apart, about 5% swapped with their successor."""
    rng = random.Random(seed)
    ts = BASE_TS + 17
    ticks: list[Tick] = []
    for _ in range(count):
        ts += rng.randint(1, 20_000)
        bid = round(1.1 + rng.gauss(0.0, 1e-3), 5)
        ticks.append(Tick(SYMBOL, ts, bid, bid + 0.0002, rng.choice((0.25, 0.5, 1.0))))
    for index in range(count - 1):
        if rng.random() < 0.05:
            ticks[index], ticks[index + 1] = ticks[index + 1], ticks[index]
    return ticks


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    settings = TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2.0)
    opened = open_timeseries(f"duckdb://{tmp_path}/bars.duckdb", settings)
    await opened.start()
    yield opened
    await opened.close()


class TestBarRows:
    def test_row_holds_every_column_and_maps_back(self) -> None:
        bar = make_bar(Timeframe.H4, tick_count=3, last_tick_ts=BASE_TS + 9)

        (row,) = bar_rows(TENANT, [bar])

        assert tuple(row) == BAR_TABLE.column_names
        assert (row["tenant_id"], row["timeframe"], row["tick_count"]) == (TENANT, "H4", 3)
        assert bar_from_row(row) == bar

    def test_unknown_timeframe_in_row_raises(self) -> None:
        (row,) = bar_rows(TENANT, [make_bar()])

        with pytest.raises(ValueError):
            bar_from_row({**row, "timeframe": "W1"})


class TestLatestBars:
    def test_highest_tick_count_wins_whatever_the_order(self) -> None:
        rows = bar_rows(TENANT, [make_bar(tick_count=c, close=c / 10) for c in (2, 5, 3)])

        (latest,) = latest_bars(rows)

        assert (latest["tick_count"], latest["close"]) == (5, 0.5)

    def test_equal_counts_go_to_latest_tick_then_to_last_row(self) -> None:
        rows = bar_rows(
            TENANT,
            [
                make_bar(tick_count=2, last_tick_ts=BASE_TS + 9, close=1.0),
                make_bar(tick_count=2, last_tick_ts=BASE_TS + 5, close=2.0),
                make_bar(tick_count=2, last_tick_ts=BASE_TS + 9, close=3.0),
            ],
        )

        assert [row["close"] for row in latest_bars(rows)] == [3.0]

    def test_keys_are_kept_apart_and_ordered_by_ts_then_timeframe(self) -> None:
        later = BASE_TS + 3_600_000
        rows = bar_rows(
            TENANT,
            [
                make_bar(Timeframe.H1, ts=later),
                make_bar(Timeframe.M1, ts=later),
                make_bar(Timeframe.D1),
                make_bar(Timeframe.M1),
                make_bar(Timeframe.M1, symbol="GBPUSD"),
            ],
        ) + bar_rows(TenantId("other-tenant"), [make_bar(Timeframe.M1)])

        keys = [(r["ts"], r["timeframe"], r["symbol"], r["tenant_id"]) for r in latest_bars(rows)]

        assert keys == [
            (BASE_TS, "M1", SYMBOL, TENANT),
            (BASE_TS, "M1", "GBPUSD", TENANT),
            (BASE_TS, "M1", SYMBOL, "other-tenant"),
            (BASE_TS, "D1", SYMBOL, TENANT),
            (later, "M1", SYMBOL, TENANT),
            (later, "H1", SYMBOL, TENANT),
        ]


class TestPersistBars:
    async def test_round_trip_with_revisions_and_flushes_gives_the_final_bars(
        self, store: TimeSeriesStore
    ) -> None:
        arrival = make_arrival(2_000, seed=9)
        aggregator = MultiTimeframeAggregator()
        expected: dict[tuple[Timeframe, int], AggregatedBar] = {}
        revised = 0
        pending: list[AggregatedBar] = []
        for index, tick in enumerate(arrival):
            for event in aggregator.on_tick(tick):
                expected[(event.bar.timeframe, event.bar.ts)] = event.bar
                revised += isinstance(event, BarRevised)
                pending.append(event.bar)
            if index in (500, 1_200):  # a shutdown persists the open bars, which then go on
                pending.extend(aggregator.flush())
            if index % 250 == 0:
                await persist_bars(store, TENANT, pending)
                pending = []
        final_open = aggregator.flush()
        expected.update({(bar.timeframe, bar.ts): bar for bar in final_open})
        await persist_bars(store, TENANT, [*pending, *final_open])

        rows = await store.scan(
            BAR_TABLE.name, tenant_id=TENANT, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )
        bars = [bar_from_row(row) for row in latest_bars(rows)]

        assert revised > 0
        assert len(rows) == len(bars) == len(expected)  # one row per bar, however revised
        assert sorted(bars, key=_bar_key) == sorted(expected.values(), key=_bar_key)

    async def test_no_bars_appends_nothing(self, store: TimeSeriesStore) -> None:
        assert await persist_bars(store, TENANT, []) == 0


def _bar_key(bar: AggregatedBar) -> tuple[Any, ...]:
    return (bar.timeframe.milliseconds, bar.ts)


class TestReadBars:
    async def test_returns_latest_rows_of_one_timeframe_before_end(
        self, store: TimeSeriesStore
    ) -> None:
        bars = [make_bar(ts=BASE_TS + i * 60_000, close=1.1 + i * 1e-4) for i in range(50)]
        hours = [make_bar(Timeframe.H1, ts=BASE_TS + i * 3_600_000) for i in range(3)]
        revised = make_bar(ts=bars[45].ts, tick_count=5, last_tick_ts=bars[45].ts + 9, close=1.5)
        await persist_bars(store, TENANT, [*bars, *hours, revised])

        got = await read_bars(store, TENANT, SYMBOL, Timeframe.M1, end_ms=bars[48].ts, count=10)

        assert [b.ts for b in got] == [b.ts for b in bars[38:48]]
        assert got[7] == revised  # the revision (more ticks) wins over the closed bar
        assert await read_bars(store, TENANT, SYMBOL, Timeframe.H4, end_ms=FAR_END, count=5) == []
        assert (
            len(await read_bars(store, TENANT, SYMBOL, Timeframe.M1, end_ms=FAR_END, count=500))
            == 50
        )

    async def test_many_revisions_do_not_hide_older_bars(self, store: TimeSeriesStore) -> None:
        bars = [make_bar(ts=BASE_TS + i * 60_000) for i in range(5)]
        revisions = [
            make_bar(ts=bars[4].ts, tick_count=n, last_tick_ts=bars[4].ts + n) for n in range(2, 40)
        ]
        await persist_bars(store, TENANT, [*bars, *revisions])

        got = await read_bars(store, TENANT, SYMBOL, Timeframe.M1, end_ms=FAR_END, count=3)

        assert [b.ts for b in got] == [b.ts for b in bars[2:]]
        assert got[-1].tick_count == 39


class TestBarPublished:
    def test_json_round_trip_and_nan_spread_becomes_none(self) -> None:
        bar = BarPublished("t", "EURUSD", "M5", BASE_TS, 1.1, 1.2, 1.0, 1.15, 3.0, 4, 0.0002)
        assert BarPublished.from_json(bar.to_json()) == bar
        raw = json.loads(bar.to_json())
        raw["spread_mean"] = float("nan")
        assert BarPublished.from_json(json.dumps(raw).encode()).spread_mean is None
        assert BarPublished.from_json(bar.to_json()).revised is False

    @pytest.mark.parametrize(
        "data", [b"not json", b"{}", b'{"tenant_id":"t","symbol":"X","timeframe":"M7"}']
    )
    def test_anything_else_raises_value_error(self, data: bytes) -> None:
        with pytest.raises(ValueError, match="expected a published bar"):
            BarPublished.from_json(data)
