"""Builders of synthetic closed trades and an analytics service on a real store."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from chainflow.analytics.api import ClosedTrade, NoTrades
from chainflow.analytics.service import AnalyticsService
from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import AnalyticsSettings, TimeSeriesSettings
from chainflow.hub.bus.memory import InProcessBus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
JAN_1_2024 = 1_704_067_200_000  # a Monday, 00:00 UTC
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
MODELS = ("gbm@1", "gbm@2", "lstm@1")
REGIMES = ("trend_up", "trend_down", "range", "")
REASONS = ("p(up) # vs p(down) #: edge # ≥ # (moderate)", "regime trend_up", "breakout #")


def make_trade(
    seq: int,
    exit_ts: int,
    pnl: float,
    *,
    symbol: str = "EURUSD",
    entry_ts: int | None = None,
    model: str = "gbm@1",
    regime: str = "range",
    reasons: tuple[str, ...] = ("breakout #",),
) -> ClosedTrade:
    return ClosedTrade(
        seq=seq,
        symbol=symbol,
        side="buy",
        lots=1.0,
        entry_ts=exit_ts - HOUR_MS if entry_ts is None else entry_ts,
        exit_ts=exit_ts,
        entry_price=1.1,
        exit_price=1.1 + pnl / 100_000,
        pnl=pnl,
        model=model,
        regime=regime,
        reasons=reasons,
    )


def random_trades(count: int, *, seed: int = 7, start_ms: int = JAN_1_2024) -> list[ClosedTrade]:
    """Return ``count`` trades over about a year, closing in seq order."""
    rng = random.Random(seed)
    step = max(1, 365 * DAY_MS // max(count, 1))
    trades = []
    for seq in range(count):
        exit_ts = start_ms + seq * step + rng.randrange(step // 2 + 1)
        reasons = tuple(rng.sample(REASONS, rng.randrange(len(REASONS) + 1)))
        trades.append(
            ClosedTrade(
                seq=seq,
                symbol=rng.choice(SYMBOLS),
                side=rng.choice(("buy", "sell")),
                lots=0.1,
                entry_ts=exit_ts - rng.randrange(1, 20) * HOUR_MS,
                exit_ts=exit_ts,
                entry_price=1.1,
                exit_price=1.1,
                pnl=round(rng.gauss(3.0, 40.0), 2),
                model=rng.choice(MODELS),
                regime=rng.choice(REGIMES),
                reasons=reasons,
            )
        )
    return trades


class ListedTrades:
    """A ``TradeSource`` over a list per tenant (what a paper desk holds)."""

    def __init__(self, balance: float = 10_000.0) -> None:
        self.trades: dict[str, list[ClosedTrade]] = {}
        self.balance = balance

    def tenants(self) -> Sequence[str]:
        return list(self.trades)

    def closed_trades(self, tenant_id: str, from_seq: int) -> Sequence[ClosedTrade]:
        return self.trades.get(tenant_id, [])[from_seq:]

    def starting_balance(self, tenant_id: str) -> float:
        return self.balance


def store_url(backend: str, home: Path) -> str:
    return f"{backend}://{home}/{backend}-store"


@asynccontextmanager
async def started_store(url: str) -> AsyncIterator[TimeSeriesStore]:
    store = open_timeseries(url, TimeSeriesSettings())
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def analytics_on(
    store: TimeSeriesStore,
    source: ListedTrades | NoTrades | None = None,
    clock: SimulatedClock | None = None,
) -> AsyncIterator[AnalyticsService]:
    """Yield a started ``AnalyticsService`` on ``store`` (sync every hour: tests drive it)."""
    service = AnalyticsService(
        store=store,
        bus=InProcessBus(),
        source=source if source is not None else NoTrades(10_000.0),
        clock=clock or SimulatedClock(JAN_1_2024),
        settings=AnalyticsSettings(sync_interval_s=3600.0),
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
