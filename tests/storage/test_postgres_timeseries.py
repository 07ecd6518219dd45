"""The PostgreSQL time-series store beyond the contract (which runs on it too): partitions,
indexes, ``COPY`` writes, processes sharing one store; seen through the catalog."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec
from chainflow.storage.timeseries import open_timeseries
from chainflow.storage.timeseries.postgres_config import parse_postgres_url
from chainflow.storage.timeseries.postgres_store import PostgresTimeSeriesStore
from tests.contracts.test_timeseries import (
    FAR_END,
    SYMBOL,
    postgres_timeseries_url,  # noqa: F401 (a fixture)
)
from tests.fixtures.backends import require_backend, unique_name

SCHEMA = "timeseries"
OpenStore = Callable[..., Awaitable[PostgresTimeSeriesStore]]


def ms(year: int, month: int, day: int = 1, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def value_spec(*, replace: bool = False) -> TableSpec:
    return TableSpec(
        unique_name("series"),
        (ColumnSpec("kind", ColumnType.STRING), ColumnSpec("value", ColumnType.FLOAT64)),
        replace_key=("kind",) if replace else None,
    )


def row(tenant: str, ts: int, value: float, kind: str = "a") -> dict[str, Any]:
    return {"tenant_id": tenant, "symbol": SYMBOL, "ts": ts, "kind": kind, "value": value}


@pytest.fixture
async def open_store(postgres_timeseries_url: str) -> AsyncIterator[OpenStore]:  # noqa: F811
    opened: list[PostgresTimeSeriesStore] = []

    async def open_one(options: str = "") -> PostgresTimeSeriesStore:
        store = open_timeseries(
            postgres_timeseries_url + options,
            TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2.0),
        )
        assert isinstance(store, PostgresTimeSeriesStore)
        await store.start()
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def catalog(postgres_timeseries_url: str) -> AsyncIterator[asyncpg.Connection]:  # noqa: F811
    connection = await asyncpg.connect(parse_postgres_url(postgres_timeseries_url).dsn)
    yield connection
    await connection.close()


async def partitions(catalog: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await catalog.fetch(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
        f"{SCHEMA}.{table}",
    )
    return {r[0]: r[1] for r in rows}


async def rows_per_partition(catalog: asyncpg.Connection, table: str) -> dict[str, int]:
    rows = await catalog.fetch(
        f"SELECT tableoid::regclass::text, count(*) FROM {SCHEMA}.{table} GROUP BY 1"
    )
    return {r[0].split(".")[-1]: r[1] for r in rows}


class TestPartitions:
    async def test_a_month_partition_is_created_before_its_first_rows(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec()
        await store.ensure_table(spec)
        assert await partitions(catalog, spec.name) == {f"{spec.name}__default": "DEFAULT"}

        await store.append(spec.name, [row("t", ms(2024, 1, 31, 23), 1.0)])
        await store.append(spec.name, [row("t", ms(2024, 2, 1), 2.0), row("t", ms(2024, 3, 9), 3)])

        found = await partitions(catalog, spec.name)
        assert found[f"{spec.name}__202401"] == (
            f"FOR VALUES FROM ('{ms(2024, 1)}') TO ('{ms(2024, 2)}')"
        )
        assert set(found) == {
            f"{spec.name}__{p}" for p in ("default", "202401", "202402", "202403")
        }
        counts = await rows_per_partition(catalog, spec.name)
        assert counts == {f"{spec.name}__{p}": 1 for p in ("202401", "202402", "202403")}

    async def test_day_partitions_fit_between_existing_month_partitions(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        spec = value_spec()
        monthly = await open_store()
        await monthly.ensure_table(spec)
        await monthly.append(spec.name, [row("t", ms(2024, 5, 20), 1.0)])
        daily = await open_store("&partition=day")
        await daily.ensure_table(spec)

        await daily.append(spec.name, [row("t", ms(2024, 5, 21), 2.0), row("t", ms(2024, 6, 2), 3)])

        assert set(await partitions(catalog, spec.name)) == {
            f"{spec.name}__default",
            f"{spec.name}__202405",  # reused by the daily store: no overlapping day
            f"{spec.name}__20240602",
        }
        scanned = await daily.scan(
            spec.name, tenant_id="t", symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )
        assert [r["value"] for r in scanned] == [1.0, 2.0, 3.0]

    async def test_rows_beyond_year_9999_go_to_the_default_partition(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec()
        await store.ensure_table(spec)
        far = 2**62

        await store.append(spec.name, [row("t", far, 1.0), row("t", 2**63 - 1, 2.0)])

        assert await rows_per_partition(catalog, spec.name) == {f"{spec.name}__default": 2}
        scanned = await store.scan(
            spec.name, tenant_id="t", symbol=SYMBOL, start_ms=far, end_ms=2**63 - 1
        )
        assert [r["value"] for r in scanned] == [1.0]

    async def test_rows_already_in_the_default_partition_keep_their_range_there(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec()
        await store.ensure_table(spec)
        await catalog.execute(  # as if written before partitions existed
            f"INSERT INTO {SCHEMA}.{spec.name}__default VALUES ('t', $1, $2, 'a', 1.0)",
            SYMBOL,
            ms(2031, 1, 5),
        )

        await store.append(spec.name, [row("t", ms(2031, 1, 6), 2.0)])

        assert f"{spec.name}__203101" not in await partitions(catalog, spec.name)
        assert await rows_per_partition(catalog, spec.name) == {f"{spec.name}__default": 2}

    async def test_two_stores_racing_into_a_new_month_create_it_once(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        first, second = await open_store(), await open_store()
        spec = value_spec()
        await first.ensure_table(spec)
        await second.ensure_table(spec)

        counts = await asyncio.gather(
            *(
                store.append(spec.name, [row(f"t{i}", ms(2025, 7, 1) + j, 1.0) for j in range(50)])
                for i, store in enumerate((first, second, first, second))
            )
        )

        assert counts == [50] * 4
        assert set(await partitions(catalog, spec.name)) == {
            f"{spec.name}__default",
            f"{spec.name}__202507",
        }


class TestIndexes:
    async def test_every_partition_has_a_brin_on_ts_and_a_btree_on_the_key(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        plain, replacing = value_spec(), value_spec(replace=True)
        for spec in (plain, replacing):
            await store.ensure_table(spec)
            await store.append(
                spec.name, [row("t", ms(2024, 1, 2), 1.0), row("t", ms(2024, 4, 2), 2)]
            )

        indexes = await catalog.fetch(
            "SELECT t.relname, a.amname, x.indisunique, "
            "pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_am a ON a.oid = i.relam WHERE t.relname LIKE ANY($1)",
            [f"{plain.name}__%", f"{replacing.name}__%"],
        )
        by_table: dict[str, set[tuple[str, bool, str]]] = {}
        for table, method, unique, definition in indexes:
            columns = definition.split("(", 1)[1].rstrip(")")
            by_table.setdefault(table, set()).add((method, unique, columns))

        for month in ("default", "202401", "202404"):
            assert by_table[f"{plain.name}__{month}"] == {
                ("brin", False, "ts"),
                ("btree", False, "tenant_id, symbol, ts"),
            }
            assert by_table[f"{replacing.name}__{month}"] == {
                ("brin", False, "ts"),
                ("btree", True, "tenant_id, symbol, ts, kind"),
            }

    async def test_a_range_scan_uses_the_key_index_of_one_partition(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec()
        await store.ensure_table(spec)
        await store.append(
            spec.name,
            [row("t", ms(2024, m, 1) + i, float(i)) for m in (1, 2, 3) for i in range(200)],
        )
        await catalog.execute(f"ANALYZE {SCHEMA}.{spec.name}")

        plan = "\n".join(
            r[0]
            for r in await catalog.fetch(
                f"EXPLAIN SELECT * FROM {SCHEMA}.{spec.name} WHERE tenant_id = 't' "
                f"AND symbol = '{SYMBOL}' AND ts >= {ms(2024, 2)} AND ts < {ms(2024, 2, 2)}"
            )
        )

        assert f"{spec.name}__202402" in plan
        assert "__202401" not in plan and "__202403" not in plan  # pruned


class TestWrites:
    async def test_appends_are_written_with_binary_copy(
        self, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[tuple[str, int]] = []
        original = asyncpg.connection.Connection.copy_records_to_table

        async def spy(self: Any, table_name: str, *, records: Any, **kwargs: Any) -> Any:
            calls.append((table_name, len(records)))
            return await original(self, table_name, records=records, **kwargs)

        monkeypatch.setattr(asyncpg.connection.Connection, "copy_records_to_table", spy)
        store = await open_store()
        tenant = TenantId(unique_name("tenant"))
        ticks = [Tick(SYMBOL, ms(2024, 1, 3) + i, 1.1, 1.2, 1.0) for i in range(300)]

        assert await store.append_ticks(tenant, ticks) == 300

        assert calls == [("ticks", 300)]
        assert await store.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks

    async def test_replacing_table_upserts_in_place(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec(replace=True)
        await store.ensure_table(spec)
        for value in (1.0, 2.0, 3.0):
            await store.append(
                spec.name, [row("t", ms(2024, 1, 2), value), row("t", ms(2024, 1, 2), value, "b")]
            )

        stored = await catalog.fetch(f"SELECT kind, value FROM {SCHEMA}.{spec.name} ORDER BY kind")
        assert [tuple(r) for r in stored] == [("a", 3.0), ("b", 3.0)]

    async def test_strings_with_nul_and_the_escape_character_round_trip_and_filter(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        store = await open_store()
        spec = value_spec()
        await store.ensure_table(spec)
        kinds = ["a\0b", "\ue000", "\ue0000", "\0\ue000\0", "plain"]
        await store.append(
            spec.name, [row("t", ms(2024, 1, 2) + i, float(i), k) for i, k in enumerate(kinds)]
        )

        scanned = await store.scan(
            spec.name, tenant_id="t", symbol=SYMBOL, start_ms=0, end_ms=FAR_END
        )
        columns = await store.scan_columns(
            spec.name, tenant_id="t", symbol=SYMBOL, start_ms=0, end_ms=FAR_END, columns=["kind"]
        )

        assert [r["kind"] for r in scanned] == kinds
        assert columns["kind"].tolist() == kinds
        for index, kind in enumerate(kinds):
            found = await store.scan(
                spec.name,
                tenant_id="t",
                symbol=SYMBOL,
                start_ms=0,
                end_ms=FAR_END,
                where={"kind": kind},
            )
            assert [r["value"] for r in found] == [float(index)]
        stored = await catalog.fetchval(f"SELECT kind FROM {SCHEMA}.{spec.name} WHERE value = 4")
        assert stored == "plain"  # stored as it is unless it holds NUL or the escape


class TestSharedByProcesses:
    async def test_another_process_writes_while_this_one_does_and_each_sees_all(
        self,
        open_store: OpenStore,
        postgres_timeseries_url: str,  # noqa: F811
    ) -> None:
        store = await open_store()
        mine, theirs = TenantId(unique_name("mine")), TenantId(unique_name("theirs"))
        start = ms(2024, 8, 1)
        script = (
            "import asyncio, sys\n"
            "from chainflow.core.market import Tick\n"
            "from chainflow.core.settings import TimeSeriesSettings\n"
            "from chainflow.storage.timeseries import open_timeseries\n"
            "async def main():\n"
            "    store = open_timeseries(sys.argv[1], TimeSeriesSettings())\n"
            "    await store.start()\n"
            "    for batch in range(20):\n"
            "        ticks = [Tick('EURUSD', int(sys.argv[3]) + batch * 100 + i, 1.1, 1.2)\n"
            "                 for i in range(100)]\n"
            "        assert await store.append_ticks(sys.argv[2], ticks) == 100\n"
            "    await store.close()\n"
            "asyncio.run(main())\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            postgres_timeseries_url,
            theirs,
            str(start),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stderr=subprocess.PIPE,
        )
        for batch in range(20):
            ticks = [Tick(SYMBOL, start + batch * 100 + i, 1.3, 1.4) for i in range(100)]
            assert await store.append_ticks(mine, ticks) == 100
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()

        assert len(await store.scan_ticks(theirs, SYMBOL, 0, FAR_END)) == 2000
        assert len(await store.scan_ticks(mine, SYMBOL, 0, FAR_END)) == 2000
        bars = await store.ohlcv(theirs, SYMBOL, Timeframe.H1, 0, FAR_END)
        assert [(b.tick_count, b.open) for b in bars] == [(2000, 1.1)]

    async def test_a_terminal_moved_to_another_process_has_its_resends_stored_once(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        """A terminal's ticks went to process B, then to A (a reconnect to another bridge
        replica), then its unacked window back to B, whose watermark is stale: the unique
        tick identity refuses what A stored, and B reports those ticks as not new."""
        here, there = await open_store(), await open_store()
        tenant = TenantId(unique_name("moved"))
        ticks = [Tick(SYMBOL, ms(2024, 9, 1) + i, 1.1 + i * 1e-5, 1.2) for i in range(150)]
        assert await here.append_ticks(tenant, ticks[:50]) == 50
        assert await there.append_ticks(tenant, ticks[50:100]) == 50
        assert here.stored_tick_watermark(tenant, SYMBOL) == ticks[49].ts  # stale

        assert await here.insert_ticks(tenant, ticks[80:150]) == [False] * 20 + [True] * 50

        assert await here.scan_ticks(tenant, SYMBOL, 0, FAR_END) == ticks
        assert await there.load_tick_watermark(tenant, SYMBOL) == ticks[149].ts
        unique = await catalog.fetchval(
            "SELECT indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relname = 'ticks__identity'",
            SCHEMA,
        )
        assert unique is True

    async def test_a_ticks_table_holding_repeated_ticks_is_refused_with_the_fix(
        self, open_store: OpenStore, catalog: asyncpg.Connection
    ) -> None:
        """A ticks table from before the unique identity, holding a tick twice: the store
        does not start on it silently; it says which key repeats and what to do."""
        schema = unique_name("legacy")
        store = await open_store(f"&schema={schema}")
        tenant = TenantId(unique_name("repeated"))
        await store.append_ticks(tenant, [Tick(SYMBOL, ms(2024, 9, 3), 1.1, 1.2)])
        await catalog.execute(f'DROP INDEX "{schema}"."ticks__identity"')
        await catalog.execute(f'INSERT INTO "{schema}".ticks SELECT * FROM "{schema}".ticks')

        with pytest.raises(ConfigurationError, match="bid.*ask.*delete the repeated rows"):
            await open_store(f"&schema={schema}")

    async def test_a_stale_watermark_is_raised_when_the_terminal_connects(
        self, open_store: OpenStore
    ) -> None:
        here, there = await open_store(), await open_store()
        tenant = TenantId(unique_name("hello"))
        ticks = [Tick(SYMBOL, ms(2024, 9, 2) + i, 1.1, 1.2 + i * 1e-5) for i in range(60)]
        await here.append_ticks(tenant, ticks[:10])
        await there.append_ticks(tenant, ticks[10:40])

        assert await here.load_tick_watermark(tenant, SYMBOL) == ticks[39].ts
        # The resend of what ``there`` stored is now read, not taken as live.
        assert await here.insert_ticks(tenant, ticks[30:]) == [False] * 10 + [True] * 20
        assert len(await there.scan_ticks(tenant, SYMBOL, 0, FAR_END)) == 60


class TestConnectionLoss:
    async def test_after_its_connections_are_killed_one_call_fails_then_it_recovers(
        self,
        open_store: OpenStore,
        postgres_timeseries_url: str,  # noqa: F811
    ) -> None:
        store = await open_store()
        tenant = TenantId(unique_name("tenant"))
        await store.append_ticks(tenant, [Tick(SYMBOL, ms(2024, 9, 1), 1.1, 1.2)])
        role = urlsplit(parse_postgres_url(postgres_timeseries_url).dsn).username
        admin = await asyncpg.connect(parse_postgres_url(require_backend("postgres")).dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE usename = $1 AND application_name = '' AND pid <> pg_backend_pid()",
                role,
            )
        finally:
            await admin.close()
        assert killed >= 1

        failures = 0
        for _ in range(3):
            try:
                ticks = await store.scan_ticks(tenant, SYMBOL, 0, FAR_END)
                break
            except DependencyUnavailable:
                failures += 1
        assert failures <= 1
        assert len(ticks) == 1
        assert (await store.health()).ok
