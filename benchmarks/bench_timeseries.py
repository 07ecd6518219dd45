"""Time-series store benchmark: append, range scan and OHLCV on DuckDB and chDB.

Prints one JSON document. For each backend, on a fresh directory:

- ``append``: ``--ticks`` ticks appended sequentially in batches of ``--batch`` rows, each
  awaited (so each is one group commit): milliseconds per commit (p50/p99/mean) and rows/s;
- ``concurrent_append``: ``--ticks // 5`` more ticks from ``--tasks`` concurrent tasks,
  batches of ``--batch`` rows, so the group-commit writer merges them: rows/s and per-append
  latency;
- ``scan``: a range scan returning 100,000 ticks (or all of them, if fewer), median of 5;
- ``ohlcv_m1``: M1 bars over every tick of the first part, median of 5;
- ``disk_bytes``: size on disk after close; for chDB also ``active_parts_bytes``, because
  ClickHouse keeps merged-away parts on disk for ``old_parts_lifetime`` (480 s) after a merge.

Usage: ``python benchmarks/bench_timeseries.py [--ticks 1000000] [--backends duckdb,chdb]``.
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

from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = TenantId("bench-tenant")
SYMBOL = "EURUSD"
CONCURRENT_SYMBOL = "GBPUSD"
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
TICK_SPACING_MS = 250
SCAN_ROWS = 100_000
REPEATS = 5


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


async def median_run(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    durations: list[float] = []
    count = 0
    for _ in range(REPEATS):
        begin = time.perf_counter()
        count = await run()
        durations.append(time.perf_counter() - begin)
    return round(statistics.median(durations) * 1000.0, 3), count


def disk_bytes(path: Path) -> int:
    if path.is_file():
        siblings = path.parent.glob(path.name + "*")  # the database file and its WAL
        return sum(p.stat().st_size for p in siblings if p.is_file())
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    location = workdir / ("store.duckdb" if backend == "duckdb" else "chdb")
    settings = TimeSeriesSettings(
        batch_max_rows=args.batch_max_rows, batch_max_delay_ms=args.batch_max_delay_ms
    )
    store = open_timeseries(f"{backend}://{location}", settings)
    await store.start()
    try:
        append = await measure_sequential_append(store, args.ticks, args.batch)
        concurrent = await measure_concurrent_append(
            store, max(args.batch, args.ticks // 5), args.batch, args.tasks
        )
        scan_rows = min(SCAN_ROWS, args.ticks)
        scan_end = BASE_TS + scan_rows * TICK_SPACING_MS

        async def scan() -> int:
            return len(await store.scan_ticks(TENANT, SYMBOL, BASE_TS, scan_end))

        async def bars() -> int:
            return len(await store.ohlcv(TENANT, SYMBOL, Timeframe.M1, 0, 2**62))

        scan_ms, scanned = await median_run(scan)
        ohlcv_ms, bar_count = await median_run(bars)
    finally:
        await store.close()
    result: dict[str, Any] = {
        "append": append,
        "concurrent_append": concurrent,
        "scan": {"rows": scanned, "median_ms": scan_ms},
        "ohlcv_m1": {"ticks": args.ticks, "bars": bar_count, "median_ms": ohlcv_ms},
        "disk_bytes": disk_bytes(location),
    }
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
    parser.add_argument("--backends", default="duckdb,chdb")
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
        "settings": {
            "batch_max_rows": args.batch_max_rows,
            "batch_max_delay_ms": args.batch_max_delay_ms,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "duckdb": package_version("duckdb"),
            "chdb": package_version("chdb"),
        },
        "backends": results,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
