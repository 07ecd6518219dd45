"""Time-series store benchmark: append, range scan and OHLCV on DuckDB and chDB.

Prints one JSON document. For each backend, on a fresh directory:

- ``append``: ``--ticks`` ticks appended sequentially in batches of ``--batch`` rows, each
  awaited (so each is one group commit): milliseconds per commit (p50/p99/mean) and rows/s;
- ``concurrent_append``: ``--ticks // 5`` more ticks from ``--tasks`` concurrent tasks,
  batches of ``--batch`` rows, so the group-commit writer merges them: rows/s and per-append
  latency;
- ``scan``: a range read of 100,000 ticks (or all of them, if fewer), median of 5, both
  ways: as ``Tick`` objects (``scan_ticks``) and as NumPy columns (``read_tick_columns``);
- ``scan_table``: the same range through the generic table scan, as dict rows (``scan``)
  and as columns (``scan_columns``), median of 5;
- ``bar_range``: a range read of 100,000 stored M1 bars (a table shaped like the bridge's
  ``bars``), as dict rows (``scan``) and as columns (``scan_columns`` of ts and the value
  columns, as a bulk reader asks), median of 5;
- ``ohlcv_m1``: M1 bars over every tick of the first part, median of 5, as ``Bar`` objects
  (``ohlcv``) and as columns (``read_bar_columns``);
- ``disk_bytes``: size on disk after close; for chDB also ``active_parts_bytes``, because
  ClickHouse keeps merged-away parts on disk for ``old_parts_lifetime`` (480 s) after a merge.

Usage: ``python benchmarks/bench_timeseries.py [--ticks 1000000] [--backends duckdb,chdb]``
(``--backends postgres`` runs in a database made on ``--postgres-url`` and dropped after);
``--reads-only`` skips the append measurements and loads the ticks in large batches (quick
to compare the read paths).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = TenantId("bench-tenant")
SYMBOL = "EURUSD"
CONCURRENT_SYMBOL = "GBPUSD"
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
TICK_SPACING_MS = 250
SCAN_ROWS = 100_000
REPEATS = 5
LOAD_BATCH = 5000  # rows per unmeasured append
BAR_ROWS = 100_000
BAR_TABLE = TableSpec(
    "bench_bars",
    (
        *(ColumnSpec(name, ColumnType.FLOAT64) for name in ("open", "high", "low", "close")),
        ColumnSpec("volume", ColumnType.FLOAT64),
        ColumnSpec("tick_count", ColumnType.INT64),
    ),
)


def make_batch(first_index: int, rows: int, rng: random.Random, symbol: str) -> list[Tick]:
    return [
        Tick(
            symbol=symbol,
            ts=BASE_TS + (first_index + i) * TICK_SPACING_MS,
            bid=rng.uniform(1.05, 1.15),
            ask=rng.uniform(1.05, 1.15),
            volume=rng.choice((0.01, 0.1, 1.0)),
        )
        for i in range(rows)
    ]


def summarize_ms(samples_s: list[float]) -> dict[str, float]:
    samples_ms = sorted(s * 1000.0 for s in samples_s)
    centiles = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(centiles[49], 3),
        "p99_ms": round(centiles[98], 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
        "max_ms": round(samples_ms[-1], 3),
    }


async def measure_sequential_append(
    store: TimeSeriesStore, ticks: int, batch: int
) -> dict[str, Any]:
    rng = random.Random(1)
    latencies: list[float] = []
    started = time.perf_counter()
    for first in range(0, ticks, batch):
        rows = make_batch(first, min(batch, ticks - first), rng, SYMBOL)
        begin = time.perf_counter()
        await store.append_ticks(TENANT, rows)
        latencies.append(time.perf_counter() - begin)
    total_s = time.perf_counter() - started
    return {
        "commits": len(latencies),
        **summarize_ms(latencies),
        "total_s": round(total_s, 3),
        "rows_per_s": round(ticks / total_s),
    }


async def measure_concurrent_append(
    store: TimeSeriesStore, ticks: int, batch: int, tasks: int
) -> dict[str, Any]:
    batches = [(first, min(batch, ticks - first)) for first in range(0, ticks, batch)]
    latencies: list[float] = []
    rng = random.Random(2)
    prepared = [make_batch(first, rows, rng, CONCURRENT_SYMBOL) for first, rows in batches]

    async def worker(worker_index: int) -> None:
        for rows in prepared[worker_index::tasks]:
            begin = time.perf_counter()
            await store.append_ticks(TENANT, rows)
            latencies.append(time.perf_counter() - begin)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    total_s = time.perf_counter() - started
    return {
        "tasks": tasks,
        "ticks": ticks,
        "appends": len(latencies),
        **summarize_ms(latencies),
        "total_s": round(total_s, 3),
        "rows_per_s": round(ticks / total_s),
    }


async def rows_vs_columns(
    rows: Callable[[], Awaitable[int]], columns: Callable[[], Awaitable[int]], unit: str
) -> dict[str, Any]:
    """Time both read paths of one range; both must return the same number of rows."""
    rows_ms, count = await median_run(rows)
    columns_ms, column_count = await median_run(columns)
    if column_count != count:
        raise AssertionError(f"rows read {count} {unit}, columns {column_count}")
    return {
        unit: count,
        "as_objects_ms": rows_ms,
        "as_columns_ms": columns_ms,
        "speedup": round(rows_ms / columns_ms, 1) if columns_ms else None,
    }


async def median_run(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    durations: list[float] = []
    count = 0
    for _ in range(REPEATS):
        begin = time.perf_counter()
        count = await run()
        durations.append(time.perf_counter() - begin)
    return round(statistics.median(durations) * 1000.0, 3), count


async def count_of(read: Awaitable[Any], *, column: str | None = None) -> int:
    """Await one read and return its row count (of ``column`` for a dict of columns)."""
    result = await read
    return len(result[column] if column is not None else result)


def disk_bytes(path: Path) -> int:
    if path.is_file():
        siblings = path.parent.glob(path.name + "*")  # the database file and its WAL
        return sum(p.stat().st_size for p in siblings if p.is_file())
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def load_ticks(store: TimeSeriesStore, ticks: int) -> None:
    """Store the first part's ticks in large batches, unmeasured (``--reads-only``)."""
    rng = random.Random(1)
    for first in range(0, ticks, LOAD_BATCH):
        batch = make_batch(first, min(LOAD_BATCH, ticks - first), rng, SYMBOL)
        await store.append_ticks(TENANT, batch)


async def measure_bar_range(store: TimeSeriesStore) -> dict[str, Any]:
    """Store ``BAR_ROWS`` M1 bars (unmeasured), then read them whole both ways."""
    await store.ensure_table(BAR_TABLE)
    rng = random.Random(3)
    width = Timeframe.M1.milliseconds
    rows = [
        {
            "tenant_id": TENANT,
            "symbol": SYMBOL,
            "ts": BASE_TS + i * width,
            **{name: rng.uniform(1.05, 1.15) for name in ("open", "high", "low", "close")},
            "volume": rng.uniform(0.0, 100.0),
            "tick_count": rng.randrange(1, 500),
        }
        for i in range(BAR_ROWS)
    ]
    for first in range(0, BAR_ROWS, LOAD_BATCH):
        await store.append(BAR_TABLE.name, rows[first : first + LOAD_BATCH])
    end = BASE_TS + BAR_ROWS * width
    return await rows_vs_columns(
        lambda: count_of(
            store.scan(BAR_TABLE.name, tenant_id=TENANT, symbol=SYMBOL, start_ms=0, end_ms=end)
        ),
        lambda: count_of(
            store.scan_columns(
                BAR_TABLE.name,
                tenant_id=TENANT,
                symbol=SYMBOL,
                start_ms=0,
                end_ms=end,
                columns=("ts", *(c.name for c in BAR_TABLE.values)),
            ),
            column="ts",
        ),
        "bars",
    )


async def measure_reads(store: TimeSeriesStore, ticks: int) -> dict[str, Any]:
    """Each read path of the stored ticks, as objects and as columns."""
    scan_end = BASE_TS + min(SCAN_ROWS, ticks) * TICK_SPACING_MS
    scan = await rows_vs_columns(
        lambda: count_of(store.scan_ticks(TENANT, SYMBOL, BASE_TS, scan_end)),
        lambda: count_of(store.read_tick_columns(TENANT, SYMBOL, BASE_TS, scan_end)),
        "rows",
    )
    scan_table = await rows_vs_columns(
        lambda: count_of(
            store.scan("ticks", tenant_id=TENANT, symbol=SYMBOL, start_ms=BASE_TS, end_ms=scan_end)
        ),
        lambda: count_of(
            store.scan_columns(
                "ticks", tenant_id=TENANT, symbol=SYMBOL, start_ms=BASE_TS, end_ms=scan_end
            ),
            column="ts",
        ),
        "rows",
    )
    ohlcv = await rows_vs_columns(
        lambda: count_of(store.ohlcv(TENANT, SYMBOL, Timeframe.M1, 0, 2**62)),
        lambda: count_of(store.read_bar_columns(TENANT, SYMBOL, Timeframe.M1, 0, 2**62)),
        "bars",
    )
    return {
        "scan": scan,
        "scan_table": scan_table,
        "bar_range": await measure_bar_range(store),
        "ohlcv_m1": {"ticks": ticks, **ohlcv},
    }


async def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if backend == "postgres":
        return await bench_postgres(args, workdir)
    location = workdir / ("store.duckdb" if backend == "duckdb" else "chdb")
    return await bench_store(backend, f"{backend}://{location}", args, location)


async def bench_postgres(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run the benchmark in a database made for it on ``--postgres-url`` (dropped after)."""
    import asyncpg

    from chainflow.storage.timeseries.postgres_config import parse_postgres_url

    admin_dsn = parse_postgres_url(args.postgres_url).dsn
    name = f"bench_timeseries_{workdir.name.replace('-', '_').lower()}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
        result = await bench_store("postgres", url, args, None)
        result["disk_bytes"] = await admin.fetchval("SELECT pg_database_size($1)", name)
        return result
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def bench_store(
    backend: str, url: str, args: argparse.Namespace, location: Path | None
) -> dict[str, Any]:
    settings = TimeSeriesSettings(
        batch_max_rows=args.batch_max_rows, batch_max_delay_ms=args.batch_max_delay_ms
    )
    store = open_timeseries(url, settings)
    await store.start()
    result: dict[str, Any] = {}
    try:
        if args.reads_only:
            await load_ticks(store, args.ticks)
        else:
            result["append"] = await measure_sequential_append(store, args.ticks, args.batch)
            result["concurrent_append"] = await measure_concurrent_append(
                store, max(args.batch, args.ticks // 5), args.batch, args.tasks
            )
        result.update(await measure_reads(store, args.ticks))
    finally:
        await store.close()
    if location is None:
        return result
    result["disk_bytes"] = disk_bytes(location)
    if backend == "chdb":
        result["active_parts_bytes"] = chdb_active_parts_bytes(location)
    return result


def chdb_active_parts_bytes(path: Path) -> int:
    import chdb  # the store is closed, so this process may open the directory itself

    connection = chdb.connect(str(path))
    try:
        result = connection.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = 'ticks'", "CSV"
        )
        return int(result.bytes().strip() or 0)
    finally:
        connection.close()


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100, help="rows per append")
    parser.add_argument("--tasks", type=int, default=32, help="tasks in the concurrent part")
    parser.add_argument("--backends", default="duckdb,chdb", help="of duckdb, chdb, postgres")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a role that may CREATE DATABASE; the postgres backend runs in a new database",
    )
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="load the ticks unmeasured, in large batches, and measure only the reads",
    )
    parser.add_argument("--batch-max-rows", type=int, default=5000)
    parser.add_argument(
        "--batch-max-delay-ms",
        type=float,
        default=0.0,
        help="group-commit gathering delay; 0 measures the commit itself (default 0)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as workdir:
            results[backend] = await bench_backend(backend, args, Path(workdir))
    document = {
        "benchmark": "timeseries",
        "ticks": args.ticks,
        "batch_rows": args.batch,
        "reads_only": args.reads_only,
        "settings": {
            "batch_max_rows": args.batch_max_rows,
            "batch_max_delay_ms": args.batch_max_delay_ms,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "duckdb": package_version("duckdb"),
            "chdb": package_version("chdb"),
            "asyncpg": package_version("asyncpg"),
        },
        "backends": results,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
