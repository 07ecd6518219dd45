"""The monthly usage rollup: ticks, messages and API calls per tenant per UTC month.

Metering (the bridge's ``usage`` table; API calls where metered) is kept per tenant per
day, so a platform-wide question would scan every tenant's days. This rollup keeps one row
per (tenant, month) in the time-series store, under the platform's own series key, so that
one scan loads it all:

- table ``analytics_usage_monthly``: tenant_id ``_platform``, symbol ``usage_month``,
  ts = the month's first instant, ``subject_tenant`` (replace key), ``ticks``,
  ``messages``, ``api_calls``.

``refresh`` recomputes, for every tenant, the months from the previous one on (a flush
can land late) and, the first time a tenant is seen, every month since its signup. A
tenant's first row is written even when zero, so that a backfilled tenant is never
backfilled again. Rebuilding is deleting nothing: recomputing a month replaces its row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chainflow.analytics.bi.months import month_of_ms, month_start_ms
from chainflow.core.ids import TenantId
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

PLATFORM_KEY = "_platform"
USAGE_SERIES = "usage_month"
END_OF_TIME_MS = 2**62

MONTHLY_USAGE_TABLE = TableSpec(
    "analytics_usage_monthly",
    (
        ColumnSpec("subject_tenant", ColumnType.STRING),
        ColumnSpec("ticks", ColumnType.INT64),
        ColumnSpec("messages", ColumnType.INT64),
        ColumnSpec("api_calls", ColumnType.INT64),
    ),
    replace_key=("subject_tenant",),
)


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One tenant's metered usage on one UTC day (``api_calls`` 0 where not metered)."""

    day_ms: int
    ticks: int
    messages: int
    api_calls: int = 0


@dataclass(frozen=True, slots=True)
class UsageMonth:
    ticks: int = 0
    messages: int = 0
    api_calls: int = 0

    @property
    def is_active(self) -> bool:
        return self.ticks > 0 or self.messages > 0 or self.api_calls > 0


class DailyUsageSource(Protocol):
    """A tenant's metered days (the runtime reads the bridge's ``usage`` table)."""

    async def days(self, tenant_id: str, start_ms: int, end_ms: int) -> Sequence[UsageDay]:
        """Return the tenant's usage rows with ``start_ms <= day < end_ms`` (a day may
        repeat: its total is the sum of its rows)."""
        ...


MonthlyUsage = dict[str, dict[int, UsageMonth]]


def month_totals(days: Sequence[UsageDay]) -> dict[int, UsageMonth]:
    """Return ``days`` summed per month."""
    totals: dict[int, list[int]] = {}
    for day in days:
        row = totals.setdefault(month_of_ms(day.day_ms), [0, 0, 0])
        row[0] += day.ticks
        row[1] += day.messages
        row[2] += day.api_calls
    return {month: UsageMonth(*row) for month, row in totals.items()}


class MonthlyUsageRollup:
    """The rollup in memory, loaded once from its table and written through on refresh."""

    def __init__(self, store: TimeSeriesStore, source: DailyUsageSource) -> None:
        self._store = store
        self._source = source
        self.months: MonthlyUsage = {}
        self._loaded = False

    async def load(self) -> None:
        """Read the stored rollup (once per process)."""
        if self._loaded:
            return
        await self._store.ensure_table(MONTHLY_USAGE_TABLE)
        rows = await self._store.scan(
            MONTHLY_USAGE_TABLE.name,
            tenant_id=TenantId(PLATFORM_KEY),
            symbol=USAGE_SERIES,
            start_ms=0,
            end_ms=END_OF_TIME_MS,
        )
        for row in rows:
            tenant = self.months.setdefault(str(row["subject_tenant"]), {})
            tenant[month_of_ms(int(row["ts"]))] = UsageMonth(
                int(row["ticks"]), int(row["messages"]), int(row["api_calls"])
            )
        self._loaded = True

    async def refresh(self, signups: Mapping[str, int], current: int) -> int:
        """Recompute each tenant's months from ``current - 1`` on (from its signup month
        when first seen); ``signups`` maps tenants to their signup month. Return how many
        tenant months were written."""
        await self.load()
        written: list[dict[str, Any]] = []
        for tenant_id, signup in signups.items():
            known = tenant_id in self.months
            first = max(signup, current - 1) if known else min(signup, current)
            days = await self._source.days(tenant_id, month_start_ms(first), END_OF_TIME_MS)
            totals = month_totals(days)
            months = self.months.setdefault(tenant_id, {})
            for month in range(first, current + 1):
                value = totals.get(month, UsageMonth())
                if months.get(month) == value:
                    continue
                if not value.is_active and month not in months and (known or month != first):
                    continue
                months[month] = value
                written.append(_row(tenant_id, month, value))
        if written:
            await self._store.append(MONTHLY_USAGE_TABLE.name, written)
        return len(written)


def _row(tenant_id: str, month: int, value: UsageMonth) -> dict[str, Any]:
    return {
        "tenant_id": PLATFORM_KEY,
        "symbol": USAGE_SERIES,
        "ts": month_start_ms(month),
        "subject_tenant": tenant_id,
        "ticks": value.ticks,
        "messages": value.messages,
        "api_calls": value.api_calls,
    }
