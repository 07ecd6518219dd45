"""Usage per billing period, from metering, and the Enterprise overage priced from it.

The counts come from an injected ``UsageSource`` (the composition root reads the bridge's
``usage`` table for ticks and messages, the gateway's ``api_usage`` table for authenticated
API calls, and counts backtest jobs and trained model versions). Ticks and API calls are
metered per UTC day: the day a period starts on counts in that period and not in the one
before.

Enterprise includes ``enterprise_included_ticks`` and ``enterprise_included_api_calls`` per
period; above them, ticks cost ``enterprise_overage_idr_per_million_ticks`` and API calls
``enterprise_overage_idr_per_million_api_calls`` per million, each rounded up to the
rupiah, billed on the next renewal order (a line per finished period and metric, never
twice: the period's order records the order that billed it, ``overage_billed_by``).
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
API_OVERAGE_ITEM_PREFIX = "overage-api-"
TICKS_PER_UNIT = 1_000_000
CALLS_PER_UNIT = 1_000_000


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
    included_api_calls: int = 0
    idr_per_million_api_calls: int = 0

    def ticks_over(self, ticks: int) -> int:
        return max(0, ticks - self.included_ticks)

    def price_idr(self, ticks: int) -> int:
        """Return the overage price of ``ticks`` used in a period (rounded up)."""
        over = self.ticks_over(ticks)
        return -(-over * self.idr_per_million_ticks // TICKS_PER_UNIT)

    def api_calls_over(self, calls: int) -> int:
        return max(0, calls - self.included_api_calls)

    def api_calls_price_idr(self, calls: int) -> int:
        """Return the overage price of ``calls`` made in a period (rounded up)."""
        over = self.api_calls_over(calls)
        return -(-over * self.idr_per_million_api_calls // CALLS_PER_UNIT)


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


def api_overage_line(
    order_id: str, start: datetime, calls: int, pricing: OveragePricing
) -> LineItem | None:
    """Return the API-call overage line of the period ``order_id`` paid for (from
    ``start``), or None when its ``calls`` are within the allowance."""
    price = pricing.api_calls_price_idr(calls)
    if price <= 0:
        return None
    over = pricing.api_calls_over(calls)
    name = f"Overage {over:,} API calls from {start:%Y-%m-%d}"  # Midtrans: at most 50 chars
    return LineItem(id=API_OVERAGE_ITEM_PREFIX + order_id, name=name, price=price)


def billed_period_order_ids(order: BillingOrder) -> list[str]:
    """Return the ids of the orders whose overage ``order`` bills (from its lines)."""
    billed: list[str] = []
    for item in order.item_details:
        item_id = str(item.get("id", ""))
        for prefix in (API_OVERAGE_ITEM_PREFIX, OVERAGE_ITEM_PREFIX):
            if item_id.startswith(prefix):
                if item_id[len(prefix) :] not in billed:
                    billed.append(item_id[len(prefix) :])
                break
    return billed
