"""An export of 1,000,000 rows streams through a real loopback HTTP server without holding
the range in memory: the Python heap's peak growth during the stream (tracemalloc, server and
client in this process) stays far below the size of the data, and so does the process's
peak RSS growth (``VmHWM``, reset through ``/proc/self/clear_refs`` where the kernel allows)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from chainflow.ml.live.prediction_table import PREDICTIONS_TABLE
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import PASSWORD
from tests.fixtures.processes import free_port
from tests.fixtures.settings import embedded_settings

ROWS = 1_000_000
SEED_BATCH = 50_000
STEP_MS = 5  # 1M rows over 83 minutes, inside every tier's retention
# The heap is traced (tracemalloc, slow) over the first quarter of the rows: the bound is
# relative to the bytes that window streams.
TRACED_ROWS = 250_000


@contextlib.asynccontextmanager
async def served_kernel(home: Path) -> AsyncIterator[tuple[Kernel, str]]:
    """Yield ``(kernel, base_url)`` while uvicorn serves the whole app on loopback."""
    kernel = Kernel(embedded_settings(home))
    app = create_app(kernel)
    await kernel.start()
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.01)
        yield kernel, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await kernel.stop()


def prediction_rows(tenant_id: str, start_ms: int, first: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "symbol": "EURUSD",
            "ts": start_ms + i * STEP_MS,
            "timeframe": "M1",
            "model": "gbm@1",
            "p_down": 0.2,
            "p_flat": 0.3,
            "p_up": 0.5,
            "volatility": 0.001,
            "momentum": 0.1,
            "horizon": 5,
            "threshold_atr": 0.5,
            "close": 1.1 + (i % 1000) / 1e5,
            "atr": 0.0003,
            "anomaly": 0,
            "latency_ms": 1.5,
        }
        for i in range(first, first + count)
    ]


def peak_rss_reset() -> bool:
    """Reset the process's peak RSS (``VmHWM``); return whether the kernel allowed it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} is not in /proc/self/status")


async def measured_download(
    http: httpx.AsyncClient, url: str, *, trace_heap: bool
) -> dict[str, int]:
    """Stream ``url``, keeping only counts; return bytes, lines and memory growth (-1 for a
    figure not measured)."""
    gc.collect()
    can_reset_rss = peak_rss_reset()
    rss_before = status_kib("VmRSS")
    if trace_heap:
        tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    size = lines = 0
    try:
        async with http.stream("GET", url) as answer:
            assert answer.status_code == 200
            async for chunk in answer.aiter_raw():
                size += len(chunk)
                lines += chunk.count(b"\n")
        heap_peak = tracemalloc.get_traced_memory()[1] - heap_before if trace_heap else -1
    finally:
        tracemalloc.stop()
    rss_growth = (status_kib("VmHWM") - rss_before) * 1024 if can_reset_rss else -1
    return {"bytes": size, "lines": lines, "heap_peak": heap_peak, "rss_peak_growth": rss_growth}


async def test_one_million_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    async with served_kernel(tmp_path) as (kernel, base_url):
        async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
            credentials = {"email": "bulk@example.com", "password": PASSWORD}
            registered = await http.post("/api/v1/auth/register", json=credentials)
            tenant_id = registered.json()["tenant_id"]
            token = (await http.post("/api/v1/auth/login", json=credentials)).json()
            http.headers["Authorization"] = f"Bearer {token['access_token']}"
            store = kernel.infra.timeseries
            await store.ensure_table(PREDICTIONS_TABLE)
            start_ms = kernel.clock.now_ms() - 2 * 3_600_000
            for first in range(0, ROWS, SEED_BATCH):
                rows = prediction_rows(tenant_id, start_ms, first, SEED_BATCH)
                await store.append(PREDICTIONS_TABLE.name, rows)
            del rows

            path = "/api/v1/analytics/exports/predictions?symbol=EURUSD"
            # the first read also fills the store's own page cache: measured, not judged
            parquet = await measured_download(http, path + "&format=parquet", trace_heap=False)
            as_csv = await measured_download(http, path + "&format=csv", trace_heap=False)
            window = f"&from={start_ms}&to={start_ms + TRACED_ROWS * STEP_MS - 1}"
            traced = await measured_download(http, path + "&format=csv" + window, trace_heap=True)

    sys.stderr.write(
        f"\nexport of {ROWS} rows: parquet {parquet}, csv {as_csv}, csv traced {traced}\n"
    )
    data = as_csv["bytes"]  # about 90 MB
    assert as_csv["lines"] == ROWS + 1  # the header, then the rows
    assert traced["lines"] == TRACED_ROWS + 1
    assert parquet["bytes"] > 0 and parquet["rss_peak_growth"] < data, parquet
    # one batch (2,000 rows) in flight at a time: the heap peak does not grow with the rows
    # (5.5 MB measured over the 22.5 MB window, 5.6 MB over all 90 MB before)
    assert 0 < traced["heap_peak"] < traced["bytes"] / 3, traced
    if as_csv["rss_peak_growth"] >= 0:
        assert as_csv["rss_peak_growth"] < data / 4, as_csv
