"""Latency of the analytics dashboard queries on rollups, in-process.

Fills ``--tenants`` tenants with ``--trades`` closed trades each (spread over one year,
random symbols, models, regimes and reasons), rolls them up through the incremental path
(``AnalyticsService.ingest`` in batches of ``--batch``), then times each dashboard query as
its route runs it (the service call plus the response model), ``--rounds`` times on
tenants picked in turn, and prints one JSON document with p50/p99/max per query (ms), the
rollup throughput and the time of a rebuild from the raw rows.

    python benchmarks/analytics.py --trades 100000 --tenants 4 --backend duckdb
    python benchmarks/analytics.py --backend chdb   # ClickHouse SQL, embedded

What it measures: the query path only (catch-up check, rollup scans, the maths). HTTP,
auth and JSON encoding add the gateway's usual cost (``benchmarks/auth.py`` measures it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.schemas import (
    BreakdownRowOut,
    EquityPointOut,
    PeriodReturnOut,
    WindowRatiosOut,
)
from chainflow.analytics.service import AnalyticsService
from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import AnalyticsSettings, TimeSeriesSettings
from chainflow.hub.bus.memory import InProcessBus
from chainflow.storage.timeseries import open_timeseries

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
START_MS = 1_704_067_200_000  # 2024-01-01 UTC
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD", "USDCAD")
MODELS = ("gbm@1", "gbm@2", "lstm@1")
REGIMES = ("trend_up", "trend_down", "range", "volatile")
REASONS = ("edge # ≥ # (moderate)", "regime trend_up", "breakout #", "mean reversion #")


def synthetic_trades(count: int, seed: int) -> list[ClosedTrade]:
    rng = random.Random(seed)
    step = 365 * DAY_MS // count
    trades = []
    for seq in range(count):
        exit_ts = START_MS + seq * step
        trades.append(
            ClosedTrade(
                seq=seq,
                symbol=rng.choice(SYMBOLS),
                side=rng.choice(("buy", "sell")),
                lots=0.1,
                entry_ts=exit_ts - rng.randrange(1, 24) * HOUR_MS,
                exit_ts=exit_ts,
                entry_price=1.1,
                exit_price=1.1,
                pnl=round(rng.gauss(0.5, 12.0), 2),
                model=rng.choice(MODELS),
                regime=rng.choice(REGIMES),
                reasons=tuple(rng.sample(REASONS, rng.randrange(1, 3))),
            )
        )
    return trades


class NoNewTrades:
    """The source after the fill: nothing new, so each query's catch-up is a no-op."""

    def tenants(self) -> Sequence[str]:
        return ()

    def closed_trades(self, tenant_id: str, from_seq: int) -> Sequence[ClosedTrade]:
        return ()

    def starting_balance(self, tenant_id: str) -> float:
        return 10_000.0


def queries(service: AnalyticsService) -> dict[str, Callable[[str], Awaitable[Any]]]:
    async def equity(t: str) -> Any:
        return [EquityPointOut.model_validate(p) for p in await service.equity(t)]

    async def returns_month(t: str) -> Any:
        return [PeriodReturnOut.model_validate(r) for r in await service.returns(t, "month")]

    async def returns_day(t: str) -> Any:
        return [PeriodReturnOut.model_validate(r) for r in await service.returns(t, "day")]

    async def ratios(t: str) -> Any:
        return [WindowRatiosOut.model_validate(r) for r in await service.ratios(t)]

    async def breakdown(t: str) -> Any:
        rows = await service.breakdown(t, "symbol")
        return [
            BreakdownRowOut(
                key=key,
                trades=f.trades,
                wins=f.wins,
                hit_rate=f.hit_rate,
                pnl=f.pnl,
                gross_profit=f.gross_profit,
                gross_loss=f.gross_loss,
                profit_factor=f.profit_factor,
            )
            for key, f in rows
        ]

    async def latency(t: str) -> Any:
        return service.latency.summary(t)

    return {
        "equity": equity,
        "returns_day": returns_day,
        "returns_month": returns_month,
        "ratios": ratios,
        "breakdown_symbol": breakdown,
        "latency": latency,
    }


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cut[49], 3),
        "p99_ms": round(cut[98], 3),
        "max_ms": round(ordered[-1], 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="chainflow-analytics-bench-"))
    store = open_timeseries(f"{args.backend}://{home}/store", TimeSeriesSettings())
    await store.start()
    service = AnalyticsService(
        store=store,
        bus=InProcessBus(),
        source=NoNewTrades(),
        clock=SimulatedClock(START_MS + 366 * DAY_MS),
        settings=AnalyticsSettings(sync_interval_s=3600.0),
    )
    await service.start()
    tenants = [f"tenant-{i}" for i in range(args.tenants)]
    try:
        fill_started = time.perf_counter()
        for index, tenant in enumerate(tenants):
            trades = synthetic_trades(args.trades, seed=index)
            for start in range(0, len(trades), args.batch):
                await service.ingest(tenant, trades[start : start + args.batch])
        fill_s = time.perf_counter() - fill_started
        rebuild_started = time.perf_counter()
        await service.rebuild_rollups(tenants[0])
        rebuild_s = time.perf_counter() - rebuild_started
        for tenant in tenants:
            service.latency.record(tenant, 1.0)
        results: dict[str, Any] = {}
        for name, query in queries(service).items():
            for tenant in tenants:  # warm-up: first load of each tenant's rollups
                await query(tenant)
            samples = []
            for round_index in range(args.rounds):
                tenant = tenants[round_index % len(tenants)]
                started = time.perf_counter()
                await query(tenant)
                samples.append((time.perf_counter() - started) * 1000.0)
            results[name] = percentiles(samples)
    finally:
        await service.stop()
        await store.close()
    total = args.trades * args.tenants
    return {
        "benchmark": "analytics",
        "backend": args.backend,
        "tenants": args.tenants,
        "trades_per_tenant": args.trades,
        "rounds": args.rounds,
        "rollup_trades_per_s": round(total / fill_s),
        "rebuild_one_tenant_s": round(rebuild_s, 3),
        "queries": results,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("duckdb", "chdb"), default="duckdb")
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    json.dump(asyncio.run(run(args)), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
