"""``GET /api/v1/billing/usage``: the tenant's metered usage in its current period, and for
Enterprise the ticks and API calls above the allowances with their price so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chainflow.core.clock import Clock
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import UsageUnavailableError
from chainflow.users.billing.repository import OrderRepository, SubscriptionRepository
from chainflow.users.billing.usage import (
    OVERAGE_PLAN,
    OveragePricing,
    UsagePeriod,
    UsageSource,
    current_usage_period,
)


@dataclass(frozen=True, slots=True)
class UsageView:
    plan: str
    period_start: datetime
    period_end: datetime
    ticks: int
    messages: int
    backtests: int
    model_trainings: int
    api_calls: int | None
    included_ticks: int | None
    overage_ticks: int
    included_api_calls: int | None
    overage_api_calls: int
    overage_idr: int


class UsageReporter:
    """Find the current period (in a unit of work), then read metering (outside one)."""

    def __init__(self, *, clock: Clock, usage: UsageSource | None, overage: OveragePricing) -> None:
        self._clock = clock
        self._usage = usage
        self._overage = overage

    async def period(self, uow: UnitOfWork, tenant: TenantContext) -> UsagePeriod:
        """Return the period the tenant's usage is counted over now."""
        row = await SubscriptionRepository(uow.session, tenant).current()
        orders = await OrderRepository(uow.session, tenant).granted(row.plan) if row else []
        return current_usage_period(self._clock.now(), row, orders)

    async def report(self, tenant_id: str, period: UsagePeriod) -> UsageView:
        """Return the usage of ``period`` so far."""
        if self._usage is None:
            raise UsageUnavailableError(
                "expected metering to be wired to billing; this process has none"
            )
        counts = await self._usage(tenant_id, period.start, period.end)
        enterprise = period.plan == OVERAGE_PLAN
        pricing, calls = self._overage, counts.api_calls or 0
        overage_idr = pricing.price_idr(counts.ticks) + pricing.api_calls_price_idr(calls)
        return UsageView(
            plan=period.plan,
            period_start=period.start,
            period_end=period.end,
            ticks=counts.ticks,
            messages=counts.messages,
            backtests=counts.backtests,
            model_trainings=counts.model_trainings,
            api_calls=counts.api_calls,
            included_ticks=pricing.included_ticks if enterprise else None,
            overage_ticks=pricing.ticks_over(counts.ticks) if enterprise else 0,
            included_api_calls=pricing.included_api_calls if enterprise else None,
            overage_api_calls=pricing.api_calls_over(calls) if enterprise else 0,
            overage_idr=overage_idr if enterprise else 0,
        )
