"""State builds in the process lane: a pipeline restored from a worker's replay continues
exactly like one that replayed the bars itself; a dead worker costs no build."""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterator

import numpy as np
import pytest

from chainflow.core import process_lane
from chainflow.core.market import BarRow, Timeframe, bar_row
from chainflow.features.pipeline import SymbolPipeline
from chainflow.features.regimes import RegimeConfig
from chainflow.features.replay import bar_columns, bar_of, replayed, stored_bar_columns
from chainflow.features.sets import FX_CORE_V1
from tests.fixtures.market_data import make_ohlcv

TF = Timeframe.M5
START_MS = 1_700_000_000_000


def history(size: int) -> list[BarRow]:
    data = make_ohlcv(size, seed=11)
    return [
        bar_row(
            START_MS + i * TF.milliseconds,
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
            float(data.volume[i]),
            None if i % 7 == 0 else 0.00012,
        )
        for i in range(size)
    ]


def dump(pipeline: SymbolPipeline) -> str:
    return json.dumps(pipeline.snapshot(), sort_keys=True)


def nap(name: str, seconds: float) -> str:
    time.sleep(seconds)
    return name


def die_in_a_worker() -> str:
    """Kill the worker process running it; in the serving process, just answer."""
    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return "thread lane"


@pytest.fixture
def one_worker() -> Iterator[None]:
    process_lane.configure(1)
    yield
    process_lane.configure(process_lane.DEFAULT_WORKERS)


@pytest.mark.usefixtures("one_worker")
async def test_a_worker_replay_continues_like_a_local_one() -> None:
    bars = history(1200)
    config = RegimeConfig()
    local = SymbolPipeline(FX_CORE_V1, TF, config)
    local_tail = [local.update(bar).values for bar in bars[:-1]][-4:]
    jobs = process_lane.stats.jobs

    remote = await replayed(FX_CORE_V1, TF, config, bar_columns(bars[:-1]), keep=4)

    assert process_lane.stats.jobs == jobs + 1  # it ran in the worker process
    assert remote.refused == 0
    assert dump(remote.pipeline) == dump(local)
    for want, got in zip(local_tail, remote.tail, strict=True):
        np.testing.assert_array_equal(got, want)
    # the next bar gives the same vector and regime, bit for bit
    np.testing.assert_array_equal(
        remote.pipeline.update(bars[-1]).values, local.update(bars[-1]).values
    )
    assert dump(remote.pipeline) == dump(local)


@pytest.mark.usefixtures("one_worker")
async def test_a_refused_stored_bar_is_skipped_and_counted() -> None:
    bars = history(300)
    bad = bars[150]
    bars[150] = BarRow(bad.ts, bad.open, bad.low - 1.0, bad.low, bad.close, bad.volume)
    local = SymbolPipeline(FX_CORE_V1, TF)
    for bar in bars[:150] + bars[151:]:
        local.update(bar)

    remote = await replayed(FX_CORE_V1, TF, None, bar_columns(bars))

    assert remote.refused == 1
    assert dump(remote.pipeline) == dump(local)


@pytest.mark.usefixtures("one_worker")
async def test_no_bars_give_a_fresh_pipeline() -> None:
    remote = await replayed(FX_CORE_V1, TF, None, bar_columns([]))
    assert remote.pipeline.last_ts is None and remote.refused == 0 and remote.tail == []


def test_bar_columns_keep_times_and_unknown_spreads_exact() -> None:
    bars = history(10)
    columns = bar_columns(bars)
    assert columns.shape == (10, 7)
    assert [int(ts) for ts in columns[:, 0]] == [bar.ts for bar in bars]
    assert math.isnan(columns[0, 6]) and columns[1, 6] == 0.00012


@pytest.mark.usefixtures("one_worker")
async def test_a_dead_worker_runs_the_job_on_the_thread_lane_then_a_new_pool() -> None:
    fallbacks, pools = process_lane.stats.fallbacks, process_lane.stats.pools
    assert await process_lane.run_in_process(die_in_a_worker) == "thread lane"
    assert process_lane.stats.fallbacks == fallbacks + 1
    # the next job spawns a new worker and runs there
    remote = await replayed(FX_CORE_V1, TF, None, bar_columns(history(200)))
    assert remote.pipeline.last_ts == history(200)[-1].ts
    assert process_lane.stats.pools == pools + 1


async def test_lane_off_runs_in_a_thread() -> None:
    process_lane.configure(0)
    try:
        jobs = process_lane.stats.jobs
        remote = await replayed(FX_CORE_V1, TF, None, bar_columns(history(200)))
        assert remote.pipeline.last_ts is not None
        assert process_lane.stats.jobs == jobs  # no worker involved
    finally:
        process_lane.configure(process_lane.DEFAULT_WORKERS)


def test_negative_workers_are_refused() -> None:
    with pytest.raises(ValueError, match="workers >= 0"):
        process_lane.configure(-1)


@pytest.mark.usefixtures("one_worker")
async def test_an_urgent_build_overtakes_waiting_background_ones() -> None:
    await process_lane.run_in_process(nap, "spawned", 0.0)
    done: list[str] = []

    async def job(name: str, priority: int) -> None:
        done.append(await process_lane.run_in_process(nap, name, 0.3, priority=priority))

    first = asyncio.create_task(job("background 1", process_lane.BACKGROUND))
    await asyncio.sleep(0.05)  # the worker is busy with it
    second = asyncio.create_task(job("background 2", process_lane.BACKGROUND))
    await asyncio.sleep(0.05)
    urgent = asyncio.create_task(job("urgent", process_lane.URGENT))
    await asyncio.gather(first, second, urgent)
    assert done == ["background 1", "urgent", "background 2"]


def test_stored_bars_become_the_engine_input() -> None:
    stored = {
        "ts": np.array([START_MS, START_MS + 300_000], dtype=np.int64),
        "open": np.array([1.1, 1.2]),
        "high": np.array([1.3, 1.4]),
        "low": np.array([1.0, 1.1]),
        "close": np.array([1.2, 1.3]),
        "volume": np.array([10.0, 0.0]),
        "tick_count": np.array([4, 0], dtype=np.int64),
        "spread_sum": np.array([0.0004, 0.0]),
    }
    rows = stored_bar_columns(stored)
    first, second = bar_of(rows[0]), bar_of(rows[1])
    assert first == BarRow(START_MS, 1.1, 1.3, 1.0, 1.2, 10.0, 0.0004 / 4)
    assert second.ts == START_MS + 300_000 and math.isnan(second.spread)
