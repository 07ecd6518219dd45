"""Billing's view of metering, composed here because it reads four services' records:
ticks and messages from the bridge's ``usage`` time-series table, API calls from the
gateway's ``api_usage`` table, backtests from the backtest service's jobs, model trainings
from the ML registry's model versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from chainflow.backtest.models import BacktestJob
from chainflow.bridge.usage import ALL_SYMBOLS, DAY_MS, USAGE_TABLE
from chainflow.core.ids import TenantId
from chainflow.gateway.api_metering import count_api_calls
from chainflow.ml.models import MlModel
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database
from chainflow.users.billing.usage import UsageCounts


class MeteredUsage:
    """A ``users.billing.usage.UsageSource`` over the stores of one deployment."""

    def __init__(self, *, database: Database, timeseries: TimeSeriesStore) -> None:
        self._database = database
        self._timeseries = timeseries

    async def __call__(self, tenant_id: str, start: datetime, end: datetime) -> UsageCounts:
        """Return the tenant's usage with ``start <= time < end``. The bridge meters per UTC
        day, so the days counted are those from ``start``'s day up to ``end``'s day: the day
        a period starts on counts in it, never also in the period before."""
        await self._timeseries.ensure_table(USAGE_TABLE)
        rows = await self._timeseries.scan(
            USAGE_TABLE.name,
            tenant_id=TenantId(tenant_id),
            symbol=ALL_SYMBOLS,
            start_ms=_day_ms(start),
            end_ms=_day_ms(end),
        )
        backtests = select(func.count()).where(
            BacktestJob.tenant_id == tenant_id,
            BacktestJob.created_at >= start,
            BacktestJob.created_at < end,
        )
        trainings = select(func.count()).where(
            MlModel.tenant_id == tenant_id,
            MlModel.created_at >= start,
            MlModel.created_at < end,
        )
        api_calls = await count_api_calls(self._timeseries, tenant_id, _day_ms(start), _day_ms(end))
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            backtest_count = int((await uow.session.execute(backtests)).scalar_one())
            training_count = int((await uow.session.execute(trainings)).scalar_one())
        return UsageCounts(
            ticks=sum(int(row["ticks"]) for row in rows),
            messages=sum(int(row["messages"]) for row in rows),
            backtests=backtest_count,
            model_trainings=training_count,
            api_calls=api_calls,
        )


def _day_ms(moment: datetime) -> int:
    """Return the start of ``moment``'s UTC day in epoch milliseconds."""
    return int(moment.timestamp() * 1000) // DAY_MS * DAY_MS
