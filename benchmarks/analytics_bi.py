"""Business-intelligence queries of superadmins on a filled platform, in-process.

Fills ``--tenants`` tenants who signed up over ``--months`` months (a third pay Pro or
Enterprise, some upgrade, some churn) in the relational database (SQLite, migrated), and
one row of metered usage per tenant per active day in the time-series store (DuckDB by
default), then measures:

- ``refresh_cold_ms``: the first platform snapshot (backfills the monthly usage rollup);
- ``refresh_warm_ms``: a later snapshot (the rollup reads only the last two months);
- per route, p50/p99/max of answering from the snapshot (the service call plus the
  response model, as the route runs it), ``--rounds`` times.

    python benchmarks/analytics_bi.py --tenants 1000 --months 12

Prints one JSON document. HTTP and auth add the gateway's usual cost (``benchmarks/auth.py``).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from chainflow.analytics.bi.months import month_start
from chainflow.analytics.bi.schemas import (
    cohorts_out,
    conversion_out,
    mrr_out,
    overview_out,
    usage_out,
)
from chainflow.analytics.bi.service import BiService
from chainflow.bridge.usage import ALL_SYMBOLS, USAGE_TABLE
from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import DatabaseSettings, TimeSeriesSettings
from chainflow.hub.bus.memory import InProcessBus
from chainflow.runtime.analytics_sources import MeteredDays
from chainflow.storage.relational import Database, upgrade
from chainflow.storage.timeseries import open_timeseries
from chainflow.users.api import PlatformHistory, read_platform_history
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.plans import PLANS, Period, period_end
from chainflow.users.models import Tenant

NOW = datetime(2025, 12, 20, tzinfo=UTC)
DAY = timedelta(days=1)


def order(n: int, tenant: str, plan: str, start: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "order_id": f"bench-{n}",
        "user_id": "bench",
        "plan": plan,
        "period": "monthly",
        "status": "paid",
        "subtotal_idr": PLANS[plan].monthly_idr,
        "discount_idr": 0,
        "tax_idr": 0,
        "gross_amount_idr": PLANS[plan].monthly_idr,
        "tax_rate_percent": "0",
        "item_details": [],
        "customer_details": {},
        "kind": "new",
        "credit_idr": 0,
        "paid_at": start,
        "granted_at": start,
        "granted_period_start": start,
        "granted_period_end": period_end(start, Period.MONTHLY),
    }


async def fill(
    database: Database, store: Any, tenants: int, months: int, seed: int
) -> dict[str, int]:
    rng = random.Random(seed)
    first = month_start(NOW.year * 12 + NOW.month - 1 - months + 1)
    span_days = (NOW - first).days
    tenant_rows, orders, subscriptions, usage = [], [], [], []
    for i in range(tenants):
        tenant = f"bench-tenant-{i:05d}"
        signup = first + rng.randrange(span_days) * DAY
        paying = rng.random() < 0.35
        plan = "enterprise" if paying and rng.random() < 0.2 else "pro"
        tenant_rows.append(
            {
                "id": tenant,
                "name": tenant,
                "tier": plan if paying else "free",
                "limit_overrides": {},
                "created_at": signup,
                "updated_at": signup,
            }
        )
        last_active = NOW if rng.random() < 0.7 else signup + rng.randrange(1, 120) * DAY
        day = signup
        while day < min(last_active, NOW):
            if rng.random() < 0.8:
                usage.append(
                    {
                        "tenant_id": tenant,
                        "symbol": ALL_SYMBOLS,
                        "ts": int(day.timestamp() * 1000),
                        "ticks": rng.randrange(1_000, 200_000),
                        "messages": rng.randrange(10, 2_000),
                    }
                )
            day += DAY
        if paying:
            start = signup + rng.randrange(0, 20) * DAY
            current = plan if rng.random() < 0.8 else "pro"
            while start < min(last_active, NOW):
                orders.append(order(len(orders), tenant, current, start))
                start = period_end(start, Period.MONTHLY)
                if current == "pro" and plan == "enterprise":
                    current = "enterprise"
            live = start > NOW
            subscriptions.append(
                {
                    "tenant_id": tenant,
                    "plan": current,
                    "period": "monthly",
                    "status": "active" if live else "expired",
                    "current_period_start": start - 30 * DAY,
                    "current_period_end": start,
                    "cancel_at_period_end": False,
                }
            )
    async with database.unit_of_work(system=True) as uow:
        await uow.session.execute(insert(Tenant), tenant_rows)
        if orders:
            await uow.session.execute(insert(BillingOrder), orders)
        if subscriptions:
            await uow.session.execute(insert(Subscription), subscriptions)
    await store.ensure_table(USAGE_TABLE)
    for start in range(0, len(usage), 50_000):
        await store.append(USAGE_TABLE.name, usage[start : start + 50_000])
    return {"tenants": tenants, "paid_orders": len(orders), "usage_rows": len(usage)}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "max_ms": round(ordered[-1], 4),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite+aiosqlite:///{Path(home) / 'bench.db'}"
        await upgrade(url)
        clock = SimulatedClock(int(NOW.timestamp() * 1000))
        database = Database(url, DatabaseSettings(url=url), clock=clock)
        store = open_timeseries(f"{args.backend}://{home}/store", TimeSeriesSettings())
        await store.start()
        try:
            filled = await fill(database, store, args.tenants, args.months, args.seed)

            async def history() -> PlatformHistory:
                return await read_platform_history(database, clock)

            service = BiService(
                store=store,
                bus=InProcessBus(),
                clock=clock,
                platform=history,
                usage=MeteredDays(store),
                months=args.months,
            )
            started = time.perf_counter()
            await service.refresh()
            cold_ms = (time.perf_counter() - started) * 1000
            warm = []
            for _ in range(3):
                started = time.perf_counter()
                await service.refresh()
                warm.append((time.perf_counter() - started) * 1000)
            queries = {
                "overview": lambda s: overview_out(s),
                "mrr": lambda s: mrr_out(s),
                "cohorts": lambda s: cohorts_out(s),
                "conversion": lambda s: conversion_out(s),
                "usage": lambda s: usage_out(s, s.months[-1]),
            }
            timings: dict[str, dict[str, float]] = {}
            for name, answer in queries.items():
                samples = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    answer(await service.snapshot())
                    samples.append((time.perf_counter() - started) * 1000)
                timings[name] = percentiles(samples)
        finally:
            await store.close()
            await database.dispose()
    return {
        "benchmark": "analytics_bi",
        "backend": args.backend,
        "months": args.months,
        **filled,
        "refresh_cold_ms": round(cold_ms, 1),
        "refresh_warm_ms": round(statistics.median(warm), 1),
        "queries": timings,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backend", choices=("duckdb", "chdb"), default="duckdb")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse())), indent=2))
