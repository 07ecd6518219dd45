"""What the analytics service reads from other services, adapted here (the composition root
reads every service): metering days for business intelligence, the paper desk and the
model trackers for live dashboards, the model registry and stored bars for drift."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from chainflow.analytics.bi.usage import UsageDay
from chainflow.analytics.drift.legs import LegTrade
from chainflow.analytics.drift.service import BacktestRun
from chainflow.analytics.live.frame import DashboardView, ModelAccuracy, OpenPosition
from chainflow.backtest.api import BacktestConfig, run_backtest
from chainflow.backtest.data import load_stored, parse_timeframe
from chainflow.backtest.model_source import ModelSource, load_model
from chainflow.bridge.usage import ALL_SYMBOLS, USAGE_TABLE
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.gateway.api_metering import ALL_ROUTES, API_USAGE_TABLE
from chainflow.ml.live.service import MlService
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database
from chainflow.trading.api import TradingPreferences
from chainflow.trading.service import TradingService

WARM_UP_BARS = 500  # bars before ``from`` that warm the model's features up
DEFAULT_TIMEFRAME = "M5"


class MeteredDays:
    """``analytics.bi.usage.DailyUsageSource`` over the bridge's ``usage`` table (ticks,
    messages) and the gateway's ``api_usage`` table (API calls)."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self._store = store
        self._ready = False

    async def days(self, tenant_id: str, start_ms: int, end_ms: int) -> Sequence[UsageDay]:
        if not self._ready:
            await self._store.ensure_table(USAGE_TABLE)
            await self._store.ensure_table(API_USAGE_TABLE)
            self._ready = True
        tenant = TenantId(tenant_id)
        metered = await self._store.scan(
            USAGE_TABLE.name, tenant_id=tenant, symbol=ALL_SYMBOLS, start_ms=start_ms, end_ms=end_ms
        )
        calls = await self._store.scan(
            API_USAGE_TABLE.name,
            tenant_id=tenant,
            symbol=ALL_ROUTES,
            start_ms=start_ms,
            end_ms=end_ms,
        )
        days = [
            UsageDay(int(row["ts"]), int(row["ticks"] or 0), int(row["messages"] or 0))
            for row in metered
        ]
        days.extend(UsageDay(int(row["ts"]), 0, 0, int(row["calls"] or 0)) for row in calls)
        return days


class PaperDeskDashboards:
    """``analytics.live.publisher.DashboardSource`` over the trading service's paper desk and
    the ml service's live trackers in this process."""

    def __init__(self, trading: TradingService, ml: MlService | None) -> None:
        self._trading = trading
        self._ml = ml

    def tenants(self) -> Sequence[str]:
        return self._trading.desk.tenants()

    async def view(self, tenant_id: str) -> DashboardView | None:
        desk = self._trading.desk
        if tenant_id not in desk.tenants():
            return None
        snapshot = desk.snapshot_of(tenant_id)
        account = desk.account_view(tenant_id, curve_points=1)["account"]
        breaker = desk.book(tenant_id).breaker
        positions = []
        for p in snapshot.positions:
            mark = snapshot.prices.get(p.symbol, p.entry_price)
            units = p.lots * p.instrument.contract_size
            positions.append(
                OpenPosition(
                    symbol=p.symbol,
                    side="buy" if p.lots > 0 else "sell",
                    lots=abs(p.lots),
                    entry_price=p.entry_price,
                    mark=mark,
                    pnl=units * (mark - p.entry_price) * p.instrument.quote_to_account,
                )
            )
        return DashboardView(
            currency=snapshot.account_currency,
            balance=snapshot.balance,
            equity=snapshot.equity,
            day_start_equity=snapshot.day_start_equity,
            peak_equity=snapshot.peak_equity,
            margin_used=float(account.get("margin_used") or 0.0),
            halted=snapshot.breaker,
            max_daily_loss_pct=breaker.max_daily_loss_pct,
            max_drawdown_pct=breaker.max_drawdown_pct,
            positions=positions,
            models=self._accuracy(tenant_id),
        )

    def _accuracy(self, tenant_id: str) -> list[ModelAccuracy]:
        if self._ml is None:
            return []
        rows = []
        for (tenant, model, symbol, timeframe), tracker in self._ml.scoring.trackers.items():
            if tenant != tenant_id:
                continue
            rows.append(
                ModelAccuracy(
                    model=model,
                    symbol=symbol,
                    timeframe=timeframe,
                    scored=tracker.count,
                    hit_rate=tracker.hit_rate() if tracker.count else None,
                    baseline_accuracy=tracker.baseline_accuracy,
                    below_baseline=tracker.below_baseline,
                )
            )
        return rows


class ModelBacktester:
    """``analytics.drift.service.StrategyBacktester``: the registered model, traded by the
    backtester's ``MlStrategy`` on the tenant's stored bars, with the tenant's trading
    preferences as the live engine reads them (defaults when trading runs elsewhere)."""

    def __init__(
        self,
        *,
        models: ModelSource,
        database: Database,
        store: TimeSeriesStore,
        preferences: Callable[[str], Awaitable[TradingPreferences]] | None = None,
    ) -> None:
        self._models = models
        self._database = database
        self._store = store
        self._preferences = preferences

    async def run(
        self,
        tenant_id: str,
        strategy: str,
        symbol: str,
        start_ms: int,
        end_ms: int,
        timeframe: str | None,
    ) -> BacktestRun:
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        model = await load_model(self._models.registry, self._database, strategy, viewer=tenant)
        frame = parse_timeframe(timeframe or model.timeframe or DEFAULT_TIMEFRAME)
        bars = await load_stored(
            self._store,
            TenantId(tenant_id),
            symbol,
            frame,
            start_ms=start_ms - WARM_UP_BARS * frame.milliseconds,
            end_ms=end_ms,
        )
        first = int(np.searchsorted(bars.ts, start_ms))
        preferences = None if self._preferences is None else await self._preferences(tenant_id)
        ml_strategy = model.strategy(preferences)  # scores the bars the model's way
        result = await asyncio.to_thread(
            run_backtest, bars, ml_strategy, None, BacktestConfig(), trade_from=first
        )
        trades = tuple(
            LegTrade(
                symbol=symbol,
                side="buy" if trade.side == "long" else "sell",
                entry_ts=trade.entry_ts,
                exit_ts=trade.exit_ts,
                entry_price=trade.entry_price,
                exit_price=trade.exit_price,
                pnl=trade.pnl,
            )
            for trade in result.trades
            if trade.exit_reason != "end" and start_ms <= trade.entry_ts and trade.exit_ts < end_ms
        )
        return BacktestRun(symbol, frame.value, len(bars) - first, trades, tuple(result.notes))
