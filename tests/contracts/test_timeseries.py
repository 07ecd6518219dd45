"""Contract suite for ``TimeSeriesStore``: every backend, the same behaviour.

Backends: DuckDB (file in tmp_path), chDB (directory in tmp_path; it runs the exact SQL of
the ClickHouse backend in-process), PostgreSQL on localhost (a database made for the session
and owned by an ordinary role, dropped afterwards; with ``CI=true`` a missing server fails)
and a real ClickHouse server when ``CHAINFLOW_TEST_CLICKHOUSE_URL`` is set. Every test
writes under its own tenant id, so the suite also runs against a shared server whose
``ticks`` table outlives the test.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput, NotFound
from chainflow.core.ids import TenantId
from chainflow.core.market import Bar, Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.backends import require_backend, unique_name
from tests.fixtures.database import create_postgresql_database, drop_postgresql_database

BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000  # an hour boundary (UTC)
FAR_END = 2**62
SYMBOL = "EURUSD"
# Volumes are multiples of 1/4, so any summation order gives the exact same float.
VOLUMES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.75)

OpenStore = Callable[[], Awaitable[TimeSeriesStore]]


def _settings() -> TimeSeriesSettings:
    return TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2.0)


TIMESERIES_BACKENDS = ["duckdb", "chdb", "postgres", "clickhouse"]


@pytest.fixture(scope="session")
def postgres_timeseries_url() -> Iterator[str]:
    """Yield the time-series URL of a fresh PostgreSQL database owned by an ordinary role
    (as production connects), dropped after the session; skip (fail in CI) if it is down.

    Synchronous on purpose: it provisions on its own short-lived event loop, so the tests
    (each on its own loop) open their pools on theirs.
    """
    admin_url = require_backend("postgres")
    database = asyncio.run(create_postgresql_database(admin_url))
    try:
        yield f"{database.url}?schema=timeseries"
    finally:
        asyncio.run(drop_postgresql_database(admin_url, database))


def backend_url(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """Return the URL of a store of ``backend`` for one test."""
    if backend == "duckdb":
        return f"duckdb://{directory}/timeseries/store.duckdb"
    if backend == "chdb":
        return f"chdb://{directory}/chdb"
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_timeseries_url")
        return url
    return require_backend("clickhouse")


@pytest.fixture(params=TIMESERIES_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, request.param, tmp_path)


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[OpenStore]:
    """Yield a function that opens (and later closes) a store on the test's URL."""
    opened: list[TimeSeriesStore] = []

    async def open_one() -> TimeSeriesStore:
        store = open_timeseries(store_url, _settings())
        await store.start()
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> TimeSeriesStore:
    return await open_store()


@pytest.fixture
def tenant() -> TenantId:
    return TenantId(unique_name("tenant"))


def make_ticks(count: int, *, seed: int = 7, span_ms: int = 3 * 3_600_000) -> list[Tick]:
    """Return ``count`` ticks with distinct timestamps over ``span_ms``, in time order."""
    rng = random.Random(seed)
    offsets = sorted(rng.sample(range(span_ms), count))
    return [
        Tick(
            symbol=SYMBOL,
            ts=BASE_TS + 1_234 + offset,
            bid=rng.uniform(1.05, 1.15),
            ask=rng.uniform(1.05, 1.15),
            volume=rng.choice(VOLUMES),
        )
        for offset in offsets
    ]


def reference_bars(ticks: list[Tick], timeframe: Timeframe, start: int, end: int) -> list[Bar]:
    buckets: dict[int, list[Tick]] = {}
    for tick in sorted(ticks, key=lambda t: t.ts):
        if start <= tick.ts < end:
            buckets.setdefault(timeframe.bucket_start_ms(tick.ts), []).append(tick)
    return [
        Bar(
            symbol=SYMBOL,
            timeframe=timeframe,
            ts=bucket,
            open=group[0].bid,
            high=max(t.bid for t in group),
            low=min(t.bid for t in group),
            close=group[-1].bid,
            volume=sum(t.volume for t in group),
            tick_count=len(group),
        )
        for bucket, group in sorted(buckets.items())
    ]


def tricky_floats(count: int) -> list[float]:
    rng = random.Random(11)
    fixed = [0.1, 1.09001, 1e-300, 5e-324, 1.7976931348623157e308, -2.5e-8, 123456789.123456789]
    bit_patterns = []
    while len(bit_patterns) < count:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            bit_patterns.append(value)
    return fixed + bit_patterns


class TestAppendAndScan:
    async def test_append_then_scan_returns_rows_exactly(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        floats = tricky_floats(60)
        ticks = [
            Tick(SYMBOL, BASE_TS + i, bid=floats[i], ask=floats[-1 - i], volume=float(i))
            for i in range(len(floats))
        ]
        assert await store.append_ticks(tenant, ticks) == len(ticks)

        scanned = await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)

        assert scanned == ticks
        assert [repr(t.bid) for t in scanned] == [repr(t.bid) for t in ticks]

    async def test_generic_scan_returns_every_column(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS, 1.25, 1.5, 2.0)])

        rows = await store.scan(
            "ticks", tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )

        assert rows == [
            {
                "tenant_id": tenant,
                "symbol": SYMBOL,
                "ts": BASE_TS,
                "bid": 1.25,
                "ask": 1.5,
                "volume": 2.0,
            }
        ]

    async def test_empty_append_returns_zero(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        assert await store.append_ticks(tenant, []) == 0
        assert await store.append("ticks", []) == 0

    async def test_range_is_start_inclusive_end_exclusive(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS + i, 1.0, 1.0) for i in range(10)])

        scanned = await store.scan_ticks(tenant, SYMBOL, BASE_TS + 3, BASE_TS + 7)

        assert [t.ts for t in scanned] == [BASE_TS + 3, BASE_TS + 4, BASE_TS + 5, BASE_TS + 6]

    async def test_empty_or_inverted_range_returns_nothing(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS, 1.0, 1.0)])

        assert await store.scan_ticks(tenant, SYMBOL, BASE_TS, BASE_TS) == []
        assert await store.scan_ticks(tenant, SYMBOL, BASE_TS + 1, BASE_TS) == []

    async def test_limit_returns_earliest_rows(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS + i, 1.0, 1.0) for i in range(10)])

        scanned = await store.scan_ticks(tenant, SYMBOL, 0, FAR_END, limit=3)

        assert [t.ts - BASE_TS for t in scanned] == [0, 1, 2]
        assert await store.scan_ticks(tenant, SYMBOL, 0, FAR_END, limit=0) == []

    async def test_descending_with_limit_returns_latest_rows_first(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS + i, 1.0, 1.0) for i in range(10)])

        rows = await store.scan(
            "ticks",
            tenant_id=tenant,
            symbol=SYMBOL,
            start_ms=0,
            end_ms=BASE_TS + 8,
            limit=3,
            descending=True,
        )

        assert [r["ts"] - BASE_TS for r in rows] == [7, 6, 5]

    async def test_other_symbol_is_not_returned(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(
            tenant, [Tick(SYMBOL, BASE_TS, 1.0, 1.0), Tick("EURUSD.a", BASE_TS + 1, 2.0, 2.0)]
        )

        assert [t.symbol for t in await store.scan_ticks(tenant, "EURUSD.a", 0, FAR_END)] == [
            "EURUSD.a"
        ]

    async def test_negative_limit_raises_invalid_input(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        with pytest.raises(InvalidInput, match="limit"):
            await store.scan_ticks(tenant, SYMBOL, 0, FAR_END, limit=-1)


class TestTenantIsolation:
    async def test_other_tenant_sees_nothing(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        other = TenantId(unique_name("tenant"))
        await store.append_ticks(tenant, make_ticks(50))

        assert await store.scan_ticks(other, SYMBOL, 0, FAR_END) == []
        assert (
            await store.scan("ticks", tenant_id=other, symbol=SYMBOL, start_ms=0, end_ms=FAR_END)
            == []
        )
        assert await store.ohlcv(other, SYMBOL, Timeframe.M1, 0, FAR_END) == []

    async def test_same_symbol_for_two_tenants_stays_apart(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        other = TenantId(unique_name("tenant"))
        await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS, 1.0, 1.0)])
        await store.append_ticks(other, [Tick(SYMBOL, BASE_TS, 9.0, 9.0)])

        assert [t.bid for t in await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)] == [1.0]
        assert [t.bid for t in await store.scan_ticks(other, SYMBOL, 0, FAR_END)] == [9.0]


class TestConcurrentAppends:
    async def test_many_tasks_all_rows_durable_and_counted(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        store = await open_store()
        tasks, appends_per_task, rows_per_append = 40, 10, 5

        async def writer(task_index: int) -> int:
            written = 0
            for append_index in range(appends_per_task):
                first = (task_index * appends_per_task + append_index) * rows_per_append
                ticks = [
                    Tick(SYMBOL, BASE_TS + first + i, 1.0, 1.0) for i in range(rows_per_append)
                ]
                written += await store.append_ticks(tenant, ticks)
            return written

        counts = await asyncio.gather(*(writer(i) for i in range(tasks)))
        report = await store.health()
        await store.close()
        reopened = await open_store()

        total = tasks * appends_per_task * rows_per_append
        assert sum(counts) == total
        assert report.extra["group_commits"] < tasks * appends_per_task  # appends were merged
        scanned = await reopened.scan_ticks(tenant, SYMBOL, 0, FAR_END)
        assert [t.ts - BASE_TS for t in scanned] == list(range(total))


class TestTickWindow:
    async def test_ticks_share_their_own_wider_window_and_never_delay_other_tables(
        self, store_url: str, tenant: TenantId
    ) -> None:
        """The ticks' group commit waits ``tick_batch_max_delay_ms`` to merge appends; an
        append to another table meanwhile commits within its own short window."""
        settings = TimeSeriesSettings(batch_max_delay_ms=2.0, tick_batch_max_delay_ms=1500.0)
        store = open_timeseries(store_url, settings)
        await store.start()
        try:
            spec = TableSpec(unique_name("bars"), (ColumnSpec("close", ColumnType.FLOAT64),))
            await store.ensure_table(spec)
            commits_before = (await store.health()).extra["group_commits"]
            ticks = [
                asyncio.create_task(
                    store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS + i, 1.0, 1.0)])
                )
                for i in range(3)
            ]
            row = {"tenant_id": tenant, "symbol": SYMBOL, "ts": BASE_TS, "close": 1.5}
            assert await asyncio.wait_for(store.append(spec.name, [row]), 0.75) == 1
            assert not any(task.done() for task in ticks)  # still in their window
            assert await asyncio.gather(*ticks) == [1, 1, 1]
            commits = (await store.health()).extra["group_commits"] - commits_before
            assert commits == 2  # the bar's, and one for the three tick appends
            assert len(await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)) == 3
        finally:
            await store.close()


class TestClose:
    async def test_append_after_close_raises_dependency_unavailable(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.close()

        with pytest.raises(DependencyUnavailable, match="closed"):
            await store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS, 1.0, 1.0)])
        with pytest.raises(DependencyUnavailable, match="closed"):
            await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)

    async def test_close_commits_queued_appends(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        store = await open_store()
        pending = [
            asyncio.ensure_future(store.append_ticks(tenant, [Tick(SYMBOL, BASE_TS + i, 1.0, 1.0)]))
            for i in range(20)
        ]
        await asyncio.sleep(0)  # let every append reach the queue

        await store.close()

        assert [await p for p in pending] == [1] * 20
        reopened = await open_store()
        assert len(await reopened.scan_ticks(tenant, SYMBOL, 0, FAR_END)) == 20

    async def test_close_twice_is_harmless(self, store: TimeSeriesStore) -> None:
        await store.close()
        await store.close()


class TestDurability:
    async def test_reopen_same_location_keeps_data(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(120)
        first = await open_store()
        await first.append_ticks(tenant, ticks)
        await first.close()

        reopened = await open_store()

        assert await reopened.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks


class TestExactlyOnce:
    """A tick already stored is never stored again (docs/mt5-protocol.md §8)."""

    async def test_resend_of_6000_after_6000_stores_nothing(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(6000, span_ms=6 * 3_600_000)
        for start in range(0, 6000, 500):
            assert await store.append_ticks(tenant, ticks[start : start + 500]) == 500

        resent = await store.insert_ticks(tenant, ticks)

        assert resent == [False] * 6000
        assert await store.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks

    async def test_resend_after_reopen_stores_only_the_new_ticks(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(3000)
        first = await open_store()
        await first.append_ticks(tenant, ticks[:2000])
        await first.close()
        reopened = await open_store()

        # The client's unacked window: the last 1,100 stored ticks and 1,000 never stored.
        stored_now = await reopened.insert_ticks(tenant, ticks[900:])

        assert stored_now == [False] * 1100 + [True] * 1000
        assert await reopened.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks
        for timeframe in (Timeframe.M1, Timeframe.H1):
            bars = await reopened.ohlcv(tenant, SYMBOL, timeframe, 0, FAR_END)
            assert bars == reference_bars(ticks, timeframe, 0, FAR_END)

    async def test_a_loaded_watermark_makes_live_ticks_known_new_and_resends_still_caught(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(300)
        first = await open_store()
        await first.append_ticks(tenant, ticks[:200])
        await first.close()
        reopened = await open_store()
        assert reopened.stored_tick_watermark(tenant, SYMBOL) is None
        assert await reopened.load_tick_watermark(tenant, SYMBOL) == ticks[199].ts
        assert await reopened.load_tick_watermark(tenant, "NEVER") == -1
        assert reopened.stored_tick_watermark(tenant, SYMBOL) == ticks[199].ts

        assert await reopened.insert_ticks(tenant, ticks[150:]) == [False] * 50 + [True] * 100
        assert await reopened.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks

    async def test_late_and_repeated_ticks_within_one_call(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(10)
        await store.append_ticks(tenant, ticks[5:])
        same_ts_other_price = replace(ticks[7], bid=ticks[7].bid + 0.0001)

        mask = await store.insert_ticks(
            tenant, [ticks[0], ticks[0], ticks[6], same_ts_other_price, ticks[1]]
        )

        assert mask == [True, False, False, True, True]
        assert len(await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)) == 8

    async def test_concurrent_resends_store_each_tick_once(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(400)

        masks = await asyncio.gather(*(store.insert_ticks(tenant, ticks) for _ in range(4)))

        assert [sum(column) for column in zip(*masks, strict=True)] == [1] * 400
        assert await store.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks

    async def test_generic_append_to_ticks_is_deduplicated_too(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        tick = Tick(SYMBOL, BASE_TS, 1.1, 1.2, 1.0)
        row = {"tenant_id": tenant, "symbol": SYMBOL, "ts": BASE_TS, "bid": 1.1, "ask": 1.2}

        await store.append_ticks(tenant, [tick])

        assert await store.append("ticks", [{**row, "volume": 1.0}]) == 0
        assert await store.append_ticks(TenantId(unique_name("other")), [tick]) == 1


class TestReplacingTable:
    """A table with a ``replace_key`` holds one row per key: the last one appended."""

    @staticmethod
    def spec() -> TableSpec:
        return TableSpec(
            unique_name("revised"),
            (ColumnSpec("kind", ColumnType.STRING), ColumnSpec("value", ColumnType.FLOAT64)),
            replace_key=("kind",),
        )

    async def test_appends_of_one_key_keep_the_last_row(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        spec = self.spec()
        await store.ensure_table(spec)

        def row(ts: int, kind: str, value: float) -> dict:
            return {"tenant_id": tenant, "symbol": SYMBOL, "ts": ts, "kind": kind, "value": value}

        await store.append(spec.name, [row(BASE_TS, "a", 1.0), row(BASE_TS, "b", 2.0)])
        for revision in range(1, 30):  # one append per revision, as late ticks arrive
            await store.append(spec.name, [row(BASE_TS, "a", 1.0 + revision)])
        await store.append(spec.name, [row(BASE_TS + 1, "a", 7.0), row(BASE_TS + 1, "a", 8.0)])

        rows = await store.scan(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )

        assert sorted((r["ts"], r["kind"], r["value"]) for r in rows) == [
            (BASE_TS, "a", 30.0),
            (BASE_TS, "b", 2.0),
            (BASE_TS + 1, "a", 8.0),
        ]

    async def test_a_key_of_another_tenant_is_untouched(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        spec = self.spec()
        await store.ensure_table(spec)
        other = TenantId(unique_name("other"))
        for owner, value in ((tenant, 1.0), (other, 2.0), (tenant, 3.0)):
            row = {"tenant_id": owner, "symbol": SYMBOL, "ts": BASE_TS, "kind": "a", "value": value}
            await store.append(spec.name, [row])

        mine = await store.scan(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )
        theirs = await store.scan(
            spec.name, tenant_id=other, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )

        assert [r["value"] for r in mine] == [3.0]
        assert [r["value"] for r in theirs] == [2.0]

    async def test_replace_key_must_name_keyable_value_columns(
        self, store: TimeSeriesStore
    ) -> None:
        bad = TableSpec(
            unique_name("bad"), (ColumnSpec("value", ColumnType.FLOAT64),), replace_key=("value",)
        )
        with pytest.raises(InvalidInput, match="replace_key"):
            await store.ensure_table(bad)


class TestEnsureTable:
    @staticmethod
    def custom_spec() -> TableSpec:
        return TableSpec(
            unique_name("features"),
            (
                ColumnSpec("value", ColumnType.FLOAT64),
                ColumnSpec("window", ColumnType.INT64),
                ColumnSpec("label", ColumnType.STRING),
            ),
        )

    async def test_custom_table_round_trips_every_type(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        spec = self.custom_spec()
        await store.ensure_table(spec)
        labels = ["plain", "it's", "back\\slash", "line\nbreak\ttab", "nul\0byte", "ünï €😀", ""]
        rows = [
            {
                "tenant_id": tenant,
                "symbol": SYMBOL,
                "ts": BASE_TS + i,
                "value": 0.1 * i,
                "window": -(2**63) + i if i % 2 else 2**63 - 1 - i,
                "label": label,
            }
            for i, label in enumerate(labels)
        ]

        assert await store.append(spec.name, rows) == len(rows)
        scanned = await store.scan(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )

        assert scanned == rows

    async def test_where_filters_by_string_and_int_columns(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        spec = self.custom_spec()
        await store.ensure_table(spec)
        rows = [
            {
                "tenant_id": tenant,
                "symbol": SYMBOL,
                "ts": BASE_TS + i,
                "value": float(i),
                "window": i % 3,
                "label": "it's" if i % 2 else "M1",
            }
            for i in range(12)
        ]
        await store.append(spec.name, rows)

        def scan(**where: str | int) -> Any:
            return store.scan(
                spec.name,
                tenant_id=tenant,
                symbol=SYMBOL,
                start_ms=0,
                end_ms=FAR_END,
                where=where,
                descending=True,
                limit=2,
            )

        assert [r["ts"] for r in await scan(label="it's")] == [BASE_TS + 11, BASE_TS + 9]
        assert [r["ts"] for r in await scan(label="M1", window=0)] == [BASE_TS + 6, BASE_TS]
        assert await scan(label="none") == []

    @pytest.mark.parametrize("where", [{"value": 1.0}, {"label": 3}, {"tenant_id": "x"}])
    async def test_where_on_float_key_or_mistyped_column_raises_invalid_input(
        self, store: TimeSeriesStore, tenant: TenantId, where: dict[str, Any]
    ) -> None:
        spec = self.custom_spec()
        await store.ensure_table(spec)
        with pytest.raises(InvalidInput, match="where filters"):
            await store.scan(
                spec.name,
                tenant_id=tenant,
                symbol=SYMBOL,
                start_ms=0,
                end_ms=FAR_END,
                where=where,
            )

    async def test_ensure_table_twice_and_after_reopen_is_idempotent(
        self, open_store: OpenStore, tenant: TenantId
    ) -> None:
        spec = self.custom_spec()
        row = {
            "tenant_id": tenant,
            "symbol": SYMBOL,
            "ts": BASE_TS,
            "value": 1.5,
            "window": 3,
            "label": "x",
        }
        store = await open_store()
        await store.ensure_table(spec)
        await store.ensure_table(spec)
        await store.append(spec.name, [row])
        await store.close()

        reopened = await open_store()
        await reopened.ensure_table(spec)

        assert await reopened.scan(
            spec.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        ) == [row]

    async def test_different_declaration_of_existing_table_raises_configuration_error(
        self, open_store: OpenStore
    ) -> None:
        spec = self.custom_spec()
        store = await open_store()
        await store.ensure_table(spec)
        changed = TableSpec(spec.name, (ColumnSpec("value", ColumnType.STRING),))

        with pytest.raises(ConfigurationError, match=spec.name):
            await store.ensure_table(changed)
        await store.close()
        reopened = await open_store()
        with pytest.raises(ConfigurationError, match="expected"):
            await reopened.ensure_table(changed)

    @pytest.mark.parametrize(
        "name", ["Ticks", "1table", "a-b", "t; DROP TABLE ticks", "", "a" * 64]
    )
    async def test_invalid_table_name_raises_invalid_input(
        self, store: TimeSeriesStore, name: str
    ) -> None:
        with pytest.raises(InvalidInput, match="table name"):
            await store.ensure_table(TableSpec(name, (ColumnSpec("value", ColumnType.FLOAT64),)))

    @pytest.mark.parametrize("column", ["Value", "x y", "v`", 'v"', "ts"])
    async def test_invalid_or_key_column_name_raises_invalid_input(
        self, store: TimeSeriesStore, column: str
    ) -> None:
        spec = TableSpec(unique_name("bad"), (ColumnSpec(column, ColumnType.FLOAT64),))

        with pytest.raises(InvalidInput, match="column"):
            await store.ensure_table(spec)

    async def test_undeclared_table_raises_not_found(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        with pytest.raises(NotFound, match="ensure_table"):
            await store.scan("predictions", tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=1)
        with pytest.raises(InvalidInput, match="table name"):
            await store.append("bad name", [])


class TestRowValidation:
    @staticmethod
    def tick_row(tenant: TenantId, **changes: object) -> dict[str, object]:
        row: dict[str, object] = {
            "tenant_id": tenant,
            "symbol": SYMBOL,
            "ts": BASE_TS,
            "bid": 1.0,
            "ask": 1.1,
            "volume": 1.0,
        }
        row.update(changes)
        return row

    async def test_missing_column_raises_invalid_input_naming_it(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        row = self.tick_row(tenant)
        del row["ask"]

        with pytest.raises(InvalidInput, match="missing column 'ask'"):
            await store.append("ticks", [self.tick_row(tenant, ts=BASE_TS + 1), row])
        assert await store.scan_ticks(tenant, SYMBOL, 0, FAR_END) == []

    async def test_unknown_column_raises_invalid_input_naming_it(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        with pytest.raises(InvalidInput, match="spread"):
            await store.append("ticks", [self.tick_row(tenant, spread=0.1)])

    @pytest.mark.parametrize(
        ("column", "value"),
        [("bid", "1.0"), ("ts", 1.5), ("ts", True), ("ts", 2**63), ("ts", -1), ("symbol", None)],
    )
    async def test_wrong_value_raises_invalid_input_naming_column(
        self, store: TimeSeriesStore, tenant: TenantId, column: str, value: object
    ) -> None:
        with pytest.raises(InvalidInput, match=f"{column}"):
            await store.append("ticks", [self.tick_row(tenant, **{column: value})])


class TestOhlcv:
    @pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.M5, Timeframe.H1])
    async def test_bars_match_reference_exactly(
        self, store: TimeSeriesStore, tenant: TenantId, timeframe: Timeframe
    ) -> None:
        ticks = make_ticks(400)
        shuffled = random.Random(3).sample(ticks, len(ticks))
        for start in range(0, len(shuffled), 97):
            await store.append_ticks(tenant, shuffled[start : start + 97])

        bars = await store.ohlcv(tenant, SYMBOL, timeframe, 0, FAR_END)

        expected = reference_bars(ticks, timeframe, 0, FAR_END)
        assert len(expected) >= 3
        assert bars == expected

    async def test_range_boundaries_cut_ticks_not_bucket_keys(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        ticks = make_ticks(300)
        await store.append_ticks(tenant, ticks)
        start = BASE_TS + 90_000  # mid-bucket: the first bar keeps its open time
        end = ticks[200].ts  # exclusive: this tick is left out

        bars = await store.ohlcv(tenant, SYMBOL, Timeframe.M5, start, end)

        assert bars == reference_bars(ticks, Timeframe.M5, start, end)
        assert bars[0].ts == BASE_TS < start
        assert sum(b.tick_count for b in bars) == sum(1 for t in ticks if start <= t.ts < end)

    async def test_empty_range_returns_no_bars(
        self, store: TimeSeriesStore, tenant: TenantId
    ) -> None:
        await store.append_ticks(tenant, make_ticks(10))

        assert await store.ohlcv(tenant, SYMBOL, Timeframe.M1, BASE_TS, BASE_TS) == []
        assert await store.ohlcv(tenant, "GBPUSD", Timeframe.M1, 0, FAR_END) == []


class TestHealth:
    async def test_open_store_reports_ok_with_latency(self, store: TimeSeriesStore) -> None:
        report = await store.health()

        assert report.ok, report
        assert report.backend == store.backend
        assert report.latency_ms is not None and report.latency_ms >= 0

    async def test_closed_store_reports_not_ok(self, store: TimeSeriesStore) -> None:
        await store.close()

        report = await store.health()

        assert not report.ok
        assert report.detail is not None and "closed" in report.detail


class TestOpenTimeseries:
    def test_unknown_scheme_raises_configuration_error_with_password_redacted(self) -> None:
        url = "influx://admin:s3cret-pass@db.example:8086/ticks"

        with pytest.raises(ConfigurationError) as caught:
            open_timeseries(url, _settings())

        message = str(caught.value)
        assert "s3cret-pass" not in message
        assert "influx://admin:***@db.example:8086/ticks" in message
        for scheme in ("duckdb://", "clickhouse://", "clickhouses://", "chdb://", "postgresql://"):
            assert scheme in message

    @pytest.mark.parametrize("url", ["duckdb://relative.duckdb", "duckdb:///", "chdb://host/dir"])
    def test_local_url_without_absolute_path_raises_configuration_error(self, url: str) -> None:
        with pytest.raises(ConfigurationError, match="absolute path"):
            open_timeseries(url, _settings())

    def test_each_scheme_selects_its_backend(self, tmp_path: Path) -> None:
        assert open_timeseries(f"duckdb://{tmp_path}/a.duckdb", _settings()).backend == "duckdb"
        assert open_timeseries("duckdb:///:memory:", _settings()).backend == "duckdb"
        assert open_timeseries(f"chdb://{tmp_path}/c", _settings()).backend == "chdb"
        assert open_timeseries("clickhouses://u:p@h/db", _settings()).backend == "clickhouse"
        for scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
            assert open_timeseries(f"{scheme}://u:p@h/db", _settings()).backend == "postgres"

    @pytest.mark.parametrize(
        ("url", "match"),
        [
            ("postgresql://u:s3cret@h/db?schema=Bad-Name", "schema"),
            ("postgresql://u:s3cret@h/db?partition=week", "partition"),
            ("postgresql://u:s3cret@h/db?pool_size=0", "pool_size"),
            ("postgresql:///db", "PostgreSQL URL"),
        ],
    )
    def test_bad_postgres_url_raises_configuration_error_without_password(
        self, url: str, match: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=match) as caught:
            open_timeseries(url, _settings())

        assert "s3cret" not in str(caught.value)


class TestChdbSingleDatabase:
    async def test_second_chdb_path_while_one_is_open_raises_configuration_error(
        self, tmp_path: Path
    ) -> None:
        first = open_timeseries(f"chdb://{tmp_path}/one", _settings())
        await first.start()
        try:
            second = open_timeseries(f"chdb://{tmp_path}/two", _settings())
            with pytest.raises(ConfigurationError, match="one database per process"):
                await second.start()
        finally:
            await first.close()
