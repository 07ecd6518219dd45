"""The noisy neighbour: live tenants alone, then beside a tenant replaying a day at max speed.

``--tenants`` live pro tenants (one symbol each, stored history) stream ``--tenant-rate``
ticks/s each: after the warm-up, ``--seconds`` alone, then ``--seconds`` while one more
tenant (``--neighbour-tier``, its own limits, no stored history) replays an MT5 tick export
(default ``sample/EURUSD_ticks.tsv``, generated as ``chainflow sample-data --symbols EURUSD
--days 1 --start 2026-11-30`` when missing: 26,136 ticks) exactly as ``chainflow replay
--speed max`` does (its ``Mt5Client``: batches of 100 ticks as fast as acks allow).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tick_load.clients import Connection, Schedule
from tick_load.report import latency_figures, totals
from tick_load.scenarios import PATH_MINUTES, run_warm, server_cpu, ws_url
from tick_load.server import SOURCES, Layout, TenantSpec, server_child

NEIGHBOUR_DRAIN_S = 300.0  # how long the replay may take to be acked in full


def replay_source(requested: Path, tmp: Path) -> Path:
    """``requested`` if it exists, else the one-day sample export written under ``tmp``."""
    if requested.exists():
        return requested
    from chainflow.demo.sample_data import SampleMarketConfig
    from chainflow.demo.sample_files import SampleFileKind, write_sample_files

    config = SampleMarketConfig(
        symbols=("EURUSD",), start=datetime(2026, 11, 30, tzinfo=UTC), days=1, seed=7
    )
    write_sample_files(config, tmp / "sample", [SampleFileKind.MT5_TICKS])
    return tmp / "sample" / "EURUSD_ticks.tsv"


async def replay_neighbour(url: str, api_key: str, file: Path, at: float) -> dict[str, Any]:
    """From perf time ``at``, send ``file`` as ``chainflow replay --speed max`` does (its
    sender, ``Mt5Client``, with its defaults; timestamps shifted so the last tick is now)
    and time when the last tick was queued and when the last ack came."""
    from chainflow.client.mt5 import Mt5Client
    from chainflow.client.replay import read_mt5_ticks

    ticks = list(read_mt5_ticks(file))
    offset = int(time.time() * 1000) - ticks[-1][0]
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    began = time.perf_counter()
    client = Mt5Client(url, api_key)
    await client.connect()

    async def consume() -> None:
        async for _ in client.signals():
            pass

    signals = asyncio.create_task(consume())
    try:
        for ts, bid, ask, volume in ticks:
            await client.send_tick("EURUSD", ts + offset, bid, ask, volume)
        queued = time.perf_counter()
        await client.drain(NEIGHBOUR_DRAIN_S)
        acked = time.perf_counter()
    finally:
        stats = client.stats
        await client.close()
        await signals
    return {
        "file": str(file),
        "ticks": len(ticks),
        "acked": stats.settled,
        "rejected": dict(stats.rejected),
        "all_queued_after_s": round(queued - began, 2),
        "ended_after_s": round(acked - began, 2),
        "ack_throughput_per_s": round(stats.settled / max(acked - began, 1e-9)),
        "signals": stats.signals,
        "reconnects": stats.reconnects,
    }


def run_noisy(entry: str, args: argparse.Namespace) -> dict[str, Any]:
    n, rate, warmup, seconds = args.tenants, args.tenant_rate, args.warmup_seconds, args.seconds
    symbols = [(SOURCES[k % len(SOURCES)],) for k in range(n)]
    live = tuple(
        TenantSpec(f"live-{k:03d}@example.com", "pro", False, symbols[k]) for k in range(n)
    )
    neighbour = TenantSpec(
        "neighbour@example.com", args.neighbour_tier, False, ("EURUSD",), history=False
    )
    layout = Layout(tenants=(*live, neighbour), path_minutes=PATH_MINUTES)
    with (
        tempfile.TemporaryDirectory(prefix="bench-tick-noisy-") as tmp,
        server_child(entry, Path(tmp), layout) as ready,
    ):
        file = replay_source(Path(args.replay_file), Path(tmp))
        conns = [Connection(symbols[k], ready.paths, offset=17 * k) for k in range(n)]
        urls = [ws_url(ready.port, t["api_key"]) for t in ready.tenants[:n]]
        total = rate * n
        plans = [Schedule(rate, k / total, warmup, 2 * seconds) for k in range(n)]
        replay_url = f"ws://127.0.0.1:{ready.port}/ws/ticks"

        async def on_go(start: float) -> tuple[list[float], dict[str, Any]]:
            t0, t1 = start + warmup, start + warmup + seconds
            cpu = asyncio.create_task(server_cpu(ready.pid, [(t0, t1), (t1, t1 + seconds)]))
            other = await replay_neighbour(replay_url, ready.tenants[n]["api_key"], file, t1)
            return await cpu, other

        start, generator_cpu, (cpu, other) = asyncio.run(run_warm(urls, conns, plans, on_go))
    t0, t1 = start + warmup, start + warmup + seconds
    samples = [s for c in conns for s in c.samples]
    alone = latency_figures([s for s in samples if s.sent < t1], t0)
    beside = latency_figures([s for s in samples if s.sent >= t1], t1)
    ratio = {
        key: _ratio(beside["client_latency_ms"][key], alone["client_latency_ms"][key])
        for key in ("p50", "p99", "p99_9", "max")
    }
    other["ended_at_second"] = round(seconds + other["ended_after_s"], 2)
    other["ended_within_measured_phase"] = other["ended_after_s"] <= seconds
    whole = latency_figures(samples, t0)
    return {
        "live_tenants": n,
        "live_tier": "pro",
        "ticks_per_s_each": rate,
        "neighbour_tier": args.neighbour_tier,
        "alone": {k: v for k, v in alone.items() if k != "per_second"}
        | {"server_cpu_percent": cpu[0]},
        "with_neighbour": {k: v for k, v in beside.items() if k != "per_second"}
        | {"server_cpu_percent": cpu[1]},
        "with_over_alone": ratio,
        "neighbour": other,
        **whole,
        **totals(conns),
        "generator_cpu_percent": generator_cpu,
        "server_cpu_percent": round((cpu[0] + cpu[1]) / 2, 1),
        "model": ready.model,
        "server_setup_s": ready.setup_s,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None
