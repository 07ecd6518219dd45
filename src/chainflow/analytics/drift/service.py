"""Live-vs-backtest drift of one strategy over one period, for one tenant.

**What "the strategy's live result" is.** The live engine trades a model: every paper fill
carries the id of the signal that caused it, and the signal's tag names the model
(``name@version``) that produced it (``trading.paper.attribution``). A closed trade counts for
the signal that *opened* it. So a strategy here is a model reference, and its live result
is the tenant's closed paper trades opened by that model's signals, entered at or after
``from`` and closed before ``to`` (a position still open at ``to`` is left out).

**The backtest.** The same model, run by the backtester's ``MlStrategy`` (the live
``ModelStrategy`` on the model's predictions) on the tenant's stored bars of each symbol
the live trades traded (or of ``symbols``), warmed up on bars before ``from``; its trades
entered at or after ``from`` and closed by a signal, stop or target before ``to`` (the
backtest's closing of what is open at the end is not a trade the strategy made).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chainflow.analytics.drift.compare import Comparison, compare
from chainflow.analytics.drift.legs import LegSummary, LegTrade, summarize
from chainflow.analytics.errors import InvalidDriftQueryError
from chainflow.analytics.repository import AnalyticsRepository
from chainflow.analytics.service import AnalyticsService
from chainflow.storage.api import TimeSeriesStore

MAX_SYMBOLS = 10


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """The backtest of one symbol: its timeframe, bars in the period and closed trades."""

    symbol: str
    timeframe: str
    bars: int
    trades: tuple[LegTrade, ...]
    notes: tuple[str, ...] = ()


class StrategyBacktester(Protocol):
    """Runs a strategy's backtest on a tenant's stored bars (the runtime uses the backtest
    service's public API and the model registry)."""

    async def run(
        self,
        tenant_id: str,
        strategy: str,
        symbol: str,
        start_ms: int,
        end_ms: int,
        timeframe: str | None,
    ) -> BacktestRun:
        """Return the backtest's trades entered in ``[start_ms, end_ms)``; raise
        ``InvalidInput`` when the model or the bars are missing."""
        ...


@dataclass(frozen=True, slots=True)
class DriftReport:
    strategy: str
    start_ms: int
    end_ms: int
    symbols: tuple[str, ...]
    live: LegSummary
    backtest: LegSummary
    runs: tuple[BacktestRun, ...]
    comparison: Comparison


class DriftService:
    """See the module doc."""

    def __init__(
        self,
        *,
        analytics: AnalyticsService,
        store: TimeSeriesStore,
        backtester: StrategyBacktester,
    ) -> None:
        self._analytics = analytics
        self._store = store
        self._backtester = backtester

    async def live_trades(
        self, tenant_id: str, strategy: str, start_ms: int, end_ms: int
    ) -> list[LegTrade]:
        """Return the tenant's closed paper trades opened by ``strategy``'s signals in the
        period (see the module doc)."""
        await self._analytics.catch_up(tenant_id)
        trades = await AnalyticsRepository(self._store, tenant_id).raw_trades()
        return [
            LegTrade(t.symbol, t.side, t.entry_ts, t.exit_ts, t.entry_price, t.exit_price, t.pnl)
            for t in trades
            if t.model == strategy and t.entry_ts >= start_ms and t.exit_ts < end_ms
        ]

    async def drift(
        self,
        tenant_id: str,
        strategy: str,
        start_ms: int,
        end_ms: int,
        *,
        symbols: Sequence[str] = (),
        timeframe: str | None = None,
    ) -> DriftReport:
        """Return both legs, their curves and the verdict."""
        strategy = strategy.strip()
        if not strategy or start_ms >= end_ms:
            raise InvalidDriftQueryError(
                "expected a strategy (a model name@version) and from < to; received "
                f"strategy={strategy[:60]!r}, from={start_ms}, to={end_ms}"
            )
        live = await self.live_trades(tenant_id, strategy, start_ms, end_ms)
        chosen = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        if not chosen:
            chosen = tuple(sorted({t.symbol for t in live}))
        if len(chosen) > MAX_SYMBOLS:
            raise InvalidDriftQueryError(
                f"expected at most {MAX_SYMBOLS} symbols; received {len(chosen)}"
            )
        runs = []
        for symbol in chosen:
            runs.append(
                await self._backtester.run(tenant_id, strategy, symbol, start_ms, end_ms, timeframe)
            )
        live_in = [t for t in live if t.symbol in chosen]
        backtest = [t for run in runs for t in run.trades]
        live_leg = summarize(live_in, start_ms)
        backtest_leg = summarize(backtest, start_ms)
        return DriftReport(
            strategy=strategy,
            start_ms=start_ms,
            end_ms=end_ms,
            symbols=chosen,
            live=live_leg,
            backtest=backtest_leg,
            runs=tuple(runs),
            comparison=compare(live_leg, backtest_leg),
        )
