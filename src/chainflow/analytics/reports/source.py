"""Read a report's figures from the analytics tables of the time-series store.

The analytics service is caught up first, so trades closed just before the period ended
are counted. The opening equity adds the daily rollup rows of the UTC days before the
period's first UTC day to the raw trades of that day closed before the period opened (a
local midnight is seldom a UTC one); the period's own trades are one range scan of the raw
trades by exit time.
"""

from __future__ import annotations

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.reports.figures import ReportFigures, period_figures
from chainflow.analytics.reports.periods import ReportPeriod
from chainflow.analytics.repository import AnalyticsRepository, trade_of
from chainflow.analytics.rollups import day_of
from chainflow.analytics.service import AnalyticsService
from chainflow.analytics.tables import TRADES_SERIES, TRADES_TABLE
from chainflow.core.ids import TenantId
from chainflow.storage.api import TimeSeriesStore


class ReportFigureSource:
    """The figures of a tenant's report period."""

    def __init__(self, *, analytics: AnalyticsService, store: TimeSeriesStore) -> None:
        self._analytics = analytics
        self._store = store

    async def _trades(self, tenant_id: str, start_ms: int, end_ms: int) -> list[ClosedTrade]:
        rows = await self._store.scan(
            TRADES_TABLE.name,
            tenant_id=TenantId(tenant_id),
            symbol=TRADES_SERIES,
            start_ms=start_ms,
            end_ms=end_ms,
        )
        unique = {trade.seq: trade for trade in map(trade_of, rows)}
        return [unique[seq] for seq in sorted(unique)]

    async def figures(self, tenant_id: str, period: ReportPeriod) -> ReportFigures:
        """Return the figures of ``period`` for ``tenant_id``."""
        await self._analytics.catch_up(tenant_id)
        first_day = day_of(period.start_ms)
        earlier_days = await AnalyticsRepository(self._store, tenant_id).daily(0, first_day)
        trades = await self._trades(tenant_id, first_day, period.end_ms)
        before = sum(figures.pnl for _, figures in earlier_days)
        before += sum(t.pnl for t in trades if t.exit_ts < period.start_ms)
        opening = self._analytics.starting_balance(tenant_id) + before
        return period_figures(period, opening, trades)
