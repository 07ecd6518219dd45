"""Usage per billing period, from metering, and the Enterprise overage priced from it.

The counts come from an injected ``UsageSource`` (the composition root reads the bridge's
``usage`` table for ticks and messages, and counts backtest jobs and trained model
versions). The bridge meters per UTC day: the day a period starts on counts in that period
and not in the one before.
API calls are not metered yet: ``api_calls`` is ``None``.

Enterprise includes ``enterprise_included_ticks`` per period; ticks above it cost
``enterprise_overage_idr_per_million_ticks`` per million, rounded up to the rupiah, billed
on the next renewal order (one line per finished period, never twice: the period's order
records the order that billed it, ``overage_billed_by``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.plans import add_months
from chainflow.users.billing.pricing import LineItem

OVERAGE_PLAN = "enterprise"
OVERAGE_ITEM_PREFIX = "overage-"
TICKS_PER_UNIT = 1_000_000


@dataclass(frozen=True, slots=True)
class UsageCounts:
    ticks: int
    messages: int
    backtests: int
    model_trainings: int
    api_calls: int | None = None


class UsageSource(Protocol):
    """Return a tenant's metered usage with ``start <= time < end``."""

    async def __call__(self, tenant_id: str, start: datetime, end: datetime) -> UsageCounts: ...


@dataclass(frozen=True, slots=True)
class OveragePricing:
    included_ticks: int
    idr_per_million_ticks: int

    def ticks_over(self, ticks: int) -> int:
        return max(0, ticks - self.included_ticks)

    def price_idr(self, ticks: int) -> int:
        """Return the overage price of ``ticks`` used in a period (rounded up)."""
        over = self.ticks_over(ticks)
        return -(-over * self.idr_per_million_ticks // TICKS_PER_UNIT)


@dataclass(frozen=True, slots=True)
class UsagePeriod:
    start: datetime
    end: datetime
    plan: str


def current_usage_period(
    now: datetime, row: Subscription | None, orders: Sequence[BillingOrder]
) -> UsagePeriod:
    """Return the period usage is counted over now: the paid order's span covering ``now``,
    else the subscription's period, else the calendar month (UTC) of a free tenant."""
    for order in orders:
        start, end = order.granted_period_start, order.granted_period_end
        if start is not None and end is not None and start <= now < end:
            return UsagePeriod(start, end, order.plan)
    live = row is not None and row.status != "expired"
    if row is not None and live and row.current_period_start <= now < row.current_period_end:
        return UsagePeriod(row.current_period_start, row.current_period_end, row.plan)
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    return UsagePeriod(month_start, add_months(month_start, 1), "free")


def unbilled_periods(orders: Sequence[BillingOrder], now: datetime) -> list[BillingOrder]:
    """Return the Enterprise orders whose period has ended and whose overage is unbilled."""
    return sorted(
        (
            order
            for order in orders
            if order.plan == OVERAGE_PLAN
            and order.granted_period_end is not None
            and order.granted_period_end <= now
            and order.overage_billed_by is None
        ),
        key=lambda order: order.granted_period_end or now,
    )


def overage_line(
    order_id: str, start: datetime, ticks: int, pricing: OveragePricing
) -> LineItem | None:
    """Return the overage line of the period ``order_id`` paid for (from ``start``), or
    None when its ``ticks`` are within the allowance."""
    price = pricing.price_idr(ticks)
    if price <= 0:
        return None
    over = pricing.ticks_over(ticks)
    name = f"Overage {over:,} ticks from {start:%Y-%m-%d}"  # Midtrans: at most 50 chars
    return LineItem(id=OVERAGE_ITEM_PREFIX + order_id, name=name, price=price)


def billed_period_order_ids(order: BillingOrder) -> list[str]:
    """Return the ids of the orders whose overage ``order`` bills (from its lines)."""
    return [
        str(item["id"])[len(OVERAGE_ITEM_PREFIX) :]
        for item in order.item_details
        if str(item.get("id", "")).startswith(OVERAGE_ITEM_PREFIX)
    ]
