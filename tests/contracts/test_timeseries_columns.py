"""Contract suite for the columnar reads of ``TimeSeriesStore``: columns == rows.

``read_tick_columns``, ``read_bar_columns`` and ``scan_columns`` must return, as NumPy
columns, exactly what their row twins (``scan_ticks``, ``ohlcv``, ``scan``) return on the
same data: the same rows in the same order, bit for bit, with the same range bounds
(``start_ms <= ts < end_ms``) and the same tenant filtering. Same backends as
``test_timeseries``: DuckDB, chDB (the ClickHouse SQL in-process), PostgreSQL on localhost
(its binary ``COPY`` path for numeric columns, rows for strings) and a real ClickHouse
server when ``CHAINFLOW_TEST_CLICKHOUSE_URL`` is set.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainflow.core.errors import DependencyUnavailable, InvalidInput, NotFound
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec
from chainflow.storage.timeseries import open_timeseries
from chainflow.storage.timeseries.store_base import TimeSeriesStoreBase
from tests.contracts.test_timeseries import (
    BASE_TS,
    FAR_END,
    SYMBOL,
    TIMESERIES_BACKENDS,
    backend_url,
    make_ticks,
    postgres_timeseries_url,  # noqa: F401 (a fixture backend_url asks for)
    tricky_floats,
)
from tests.fixtures.backends import unique_name

TICK_FIELDS = ("ts", "bid", "ask", "volume")
BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", "tick_count")


@pytest.fixture(params=TIMESERIES_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Synchronous: the session's PostgreSQL database is made outside the test's loop.
    return backend_url(request, request.param, tmp_path)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Any]:
    url = store_url
    opened = open_timeseries(url, TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2))
    assert isinstance(opened, TimeSeriesStoreBase)
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture
def tenant() -> TenantId:
    return TenantId(unique_name("tenant"))


def bits(values: np.ndarray) -> list[int]:
    """The float64 bit patterns, so that equality is exact (and -0.0 != 0.0)."""
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64).tolist()


def assert_ticks_equal(columns: Any, ticks: list[Tick]) -> None:
    assert columns.ts.dtype == np.int64
    assert [columns.bid.dtype, columns.ask.dtype, columns.volume.dtype] == [np.float64] * 3
    assert columns.ts.tolist() == [t.ts for t in ticks]
    for name in ("bid", "ask", "volume"):
        expected = np.array([getattr(t, name) for t in ticks], dtype=np.float64)
        assert bits(getattr(columns, name)) == bits(expected), name
    assert columns.ticks() == ticks


class TestTickColumns:
    async def test_columns_equal_scan_ticks_bit_for_bit(self, store: Any, tenant: TenantId) -> None:
        floats = tricky_floats(60)
        ticks = [
            Tick(SYMBOL, BASE_TS + i, bid=floats[i], ask=floats[-1 - i], volume=float(i))
            for i in range(len(floats))
        ]
        await store.append_ticks(tenant, random.Random(5).sample(ticks, len(ticks)))

        columns = await store.read_tick_columns(tenant, SYMBOL, 0, FAR_END)

        assert columns.symbol == SYMBOL
        assert len(columns) == len(ticks)
        assert_ticks_equal(columns, await store.scan_ticks(tenant, SYMBOL, 0, FAR_END))
        assert_ticks_equal(columns, ticks)

    async def test_start_is_inclusive_and_end_exclusive_as_scan_ticks(
        self, store: Any, tenant: TenantId
    ) -> None:
        ticks = make_ticks(200)
        await store.append_ticks(tenant, ticks)
        start, end = ticks[50].ts, ticks[150].ts

        columns = await store.read_tick_columns(tenant, SYMBOL, start, end)

        assert columns.ts[0] == start and columns.ts[-1] == ticks[149].ts
        assert_ticks_equal(columns, await store.scan_ticks(tenant, SYMBOL, start, end))
        assert_ticks_equal(columns, ticks[50:150])

    @pytest.mark.parametrize(
        ("symbol", "start", "end"),
        [
            (SYMBOL, BASE_TS, BASE_TS),
            (SYMBOL, FAR_END, 0),
            (SYMBOL, 0, BASE_TS),
            ("GBPUSD", 0, FAR_END),
        ],
    )
    async def test_empty_range_gives_typed_zero_length_columns(
        self, store: Any, tenant: TenantId, symbol: str, start: int, end: int
    ) -> None:
        await store.append_ticks(tenant, make_ticks(20))

        columns = await store.read_tick_columns(tenant, symbol, start, end)

        assert await store.scan_ticks(tenant, symbol, start, end) == []
        assert len(columns) == 0
        assert [getattr(columns, f).dtype for f in TICK_FIELDS] == [np.int64] + [np.float64] * 3
        assert columns.ticks() == []

    async def test_one_tenant_never_reads_another_tenants_ticks(
        self, store: Any, tenant: TenantId
    ) -> None:
        other = TenantId(unique_name("other"))
        mine, theirs = make_ticks(50, seed=1), make_ticks(70, seed=2)
        await store.append_ticks(tenant, mine)
        await store.append_ticks(other, theirs)

        assert_ticks_equal(await store.read_tick_columns(tenant, SYMBOL, 0, FAR_END), mine)
        assert_ticks_equal(await store.read_tick_columns(other, SYMBOL, 0, FAR_END), theirs)
        stranger = TenantId(unique_name("stranger"))
        assert len(await store.read_tick_columns(stranger, SYMBOL, 0, FAR_END)) == 0

    async def test_invalid_arguments_raise_as_the_row_path(
        self, store: Any, tenant: TenantId
    ) -> None:
        with pytest.raises(InvalidInput):
            await store.read_tick_columns("", SYMBOL, 0, 1)
        with pytest.raises(InvalidInput):
            await store.read_tick_columns(tenant, SYMBOL, 0.5, 1)

    async def test_closed_store_raises_dependency_unavailable(self, store: Any) -> None:
        await store.close()
        with pytest.raises(DependencyUnavailable):
            await store.read_tick_columns(TenantId("t"), SYMBOL, 0, 1)


class TestBarColumns:
    @pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.M5, Timeframe.H1])
    async def test_columns_equal_ohlcv(
        self, store: Any, tenant: TenantId, timeframe: Timeframe
    ) -> None:
        await store.append_ticks(tenant, make_ticks(400))

        columns = await store.read_bar_columns(tenant, SYMBOL, timeframe, 0, FAR_END)
        rows = await store.ohlcv(tenant, SYMBOL, timeframe, 0, FAR_END)

        assert len(rows) >= 3 and len(columns) == len(rows)
        assert (columns.symbol, columns.timeframe) == (SYMBOL, timeframe)
        assert [getattr(columns, f).dtype for f in BAR_FIELDS] == (
            [np.int64] + [np.float64] * 5 + [np.int64]
        )
        assert columns.bars() == rows
        for name in ("open", "high", "low", "close", "volume"):
            expected = np.array([getattr(b, name) for b in rows], dtype=np.float64)
            assert bits(getattr(columns, name)) == bits(expected), name

    async def test_range_bounds_cut_ticks_as_ohlcv(self, store: Any, tenant: TenantId) -> None:
        ticks = make_ticks(300)
        await store.append_ticks(tenant, ticks)
        start, end = BASE_TS + 90_000, ticks[200].ts  # mid-bucket start, exclusive end

        columns = await store.read_bar_columns(tenant, SYMBOL, Timeframe.M5, start, end)

        assert columns.bars() == await store.ohlcv(tenant, SYMBOL, Timeframe.M5, start, end)
        assert int(columns.tick_count.sum()) == sum(1 for t in ticks if start <= t.ts < end)

    async def test_empty_range_and_other_tenant_give_no_bars(
        self, store: Any, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, make_ticks(10))
        other = TenantId(unique_name("other"))

        for reader, start, end in ((tenant, BASE_TS, BASE_TS), (other, 0, FAR_END)):
            columns = await store.read_bar_columns(reader, SYMBOL, Timeframe.M1, start, end)
            assert len(columns) == 0 and columns.bars() == []
            assert columns.tick_count.dtype == np.int64

    async def test_unknown_timeframe_raises_invalid_input(
        self, store: Any, tenant: TenantId
    ) -> None:
        with pytest.raises(InvalidInput):
            await store.read_bar_columns(tenant, SYMBOL, "M1", 0, FAR_END)


def _kv_table(*, replacing: bool) -> TableSpec:
    return TableSpec(
        unique_name("kv"),
        (
            ColumnSpec("kind", ColumnType.STRING),
            ColumnSpec("n", ColumnType.INT64),
            ColumnSpec("x", ColumnType.FLOAT64),
        ),
        replace_key=("kind",) if replacing else None,
    )


def _kv_rows(tenant: TenantId, count: int) -> list[dict[str, Any]]:
    rng = random.Random(9)
    return [
        {
            "tenant_id": tenant,
            "symbol": SYMBOL,
            "ts": BASE_TS + i // 2,
            "kind": "ab"[i % 2],
            "n": rng.randrange(-(2**62), 2**62),
            "x": rng.uniform(-1e9, 1e9),
        }
        for i in range(count)
    ]


def assert_columns_equal_rows(columns: dict[str, np.ndarray], rows: list[dict[str, Any]]) -> None:
    for name, column in columns.items():
        values = [row[name] for row in rows]
        if column.dtype == np.float64:
            assert bits(column) == bits(np.array(values, dtype=np.float64)), name
        else:
            assert column.tolist() == values, name
    as_rows = zip(*(column.tolist() for column in columns.values()), strict=True)
    assert [dict(zip(columns, row, strict=True)) for row in as_rows] == rows


class TestScanColumns:
    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"where": {"kind": "b"}},
            {"limit": 7, "descending": True},
            {"where": {"kind": "a"}, "limit": 5},
            {"start_ms": BASE_TS + 10, "end_ms": BASE_TS + 20},
        ],
    )
    async def test_columns_equal_scan(
        self, store: Any, tenant: TenantId, options: dict[str, Any]
    ) -> None:
        spec = _kv_table(replacing=False)
        await store.ensure_table(spec)
        await store.append(spec.name, _kv_rows(tenant, 60))
        await store.append(spec.name, _kv_rows(TenantId(unique_name("other")), 60))
        arguments = {"tenant_id": tenant, "symbol": SYMBOL, "start_ms": 0, "end_ms": FAR_END}
        arguments.update(options)

        columns = await store.scan_columns(spec.name, **arguments)
        rows = await store.scan(spec.name, **arguments)

        assert rows and list(columns) == list(spec.column_names)
        assert columns["ts"].dtype == columns["n"].dtype == np.int64
        assert columns["kind"].dtype == object
        if "where" not in options:  # ties on ts may come in any order; where makes ts unique
            columns, rows = _sorted(columns), sorted(rows, key=lambda r: (r["ts"], r["kind"]))
        assert_columns_equal_rows(columns, rows)

    async def test_replacing_table_gives_the_last_row_per_key(
        self, store: Any, tenant: TenantId
    ) -> None:
        spec = _kv_table(replacing=True)
        await store.ensure_table(spec)
        first = _kv_rows(tenant, 10)
        await store.append(spec.name, first)
        last = [dict(row, x=row["x"] + 1.0) for row in first[:4]]
        await store.append(spec.name, last)

        columns = await store.scan_columns(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )

        rows = await store.scan(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )
        expected = sorted(last + first[4:], key=lambda r: (r["ts"], r["kind"]))
        assert sorted(rows, key=lambda r: (r["ts"], r["kind"])) == expected
        assert_columns_equal_rows(_sorted(columns), expected)

    async def test_columns_picks_and_orders_columns(self, store: Any, tenant: TenantId) -> None:
        spec = _kv_table(replacing=False)
        await store.ensure_table(spec)
        await store.append(spec.name, _kv_rows(tenant, 30))
        span = {"tenant_id": tenant, "symbol": SYMBOL, "start_ms": 0, "end_ms": FAR_END}
        where = {"kind": "a"}

        picked = await store.scan_columns(spec.name, **span, where=where, columns=("x", "ts"))

        rows = await store.scan(spec.name, **span, where=where)
        assert list(picked) == ["x", "ts"]
        assert picked["ts"].tolist() == [r["ts"] for r in rows]
        assert bits(picked["x"]) == bits(np.array([r["x"] for r in rows]))
        for wrong in (("ts", "nope"), ("ts", "ts"), ()):
            with pytest.raises(InvalidInput):
                await store.scan_columns(spec.name, **span, columns=wrong)

    @pytest.mark.parametrize("picked", [("symbol", "tenant_id"), ("tenant_id", "ts", "x", "n")])
    async def test_key_string_columns_alone_or_with_numbers(
        self, store: Any, tenant: TenantId, picked: tuple[str, ...]
    ) -> None:
        spec = _kv_table(replacing=False)
        await store.ensure_table(spec)
        await store.append(spec.name, _kv_rows(tenant, 30))
        await store.append(spec.name, _kv_rows(TenantId(unique_name("other")), 5))
        span = {"tenant_id": tenant, "symbol": SYMBOL, "start_ms": 0, "end_ms": FAR_END}

        columns = await store.scan_columns(spec.name, **span, where={"kind": "a"}, columns=picked)

        rows = await store.scan(spec.name, **span, where={"kind": "a"})
        assert rows and list(columns) == list(picked)
        for name in picked:
            assert columns[name].tolist() == [r[name] for r in rows], name
        assert columns["tenant_id"].dtype == object

    async def test_empty_range_and_undeclared_table(self, store: Any, tenant: TenantId) -> None:
        spec = _kv_table(replacing=False)
        await store.ensure_table(spec)
        await store.append(spec.name, _kv_rows(tenant, 4))

        columns = await store.scan_columns(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=BASE_TS + 5, end_ms=BASE_TS
        )

        assert [len(c) for c in columns.values()] == [0] * len(spec.column_names)
        assert columns["n"].dtype == np.int64 and columns["x"].dtype == np.float64
        with pytest.raises(NotFound):
            await store.scan_columns(
                unique_name("nope"), tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=1
            )


def _sorted(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.lexsort((columns["kind"].astype(str), columns["ts"]))
    return {name: column[order] for name, column in columns.items()}
