"""A small platform history with known figures, for the business-intelligence tests.

Months of 2025. Tenant A signs up 10 Jan, uses the platform in Jan, Feb and Apr, pays Pro
for February then Enterprise from March; B signs up 20 Jan, is active every month and pays
Pro yearly from 25 Jan; C signs up 5 Feb, is active in February only and pays Pro monthly
from 5 Feb, refunded on 20 Feb; D signs up 1 Mar and never pays nor streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from chainflow.analytics.bi.usage import UsageDay
from chainflow.users.api import PaidSpan, PlatformHistory, TenantRecord

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
JAN, FEB, MAR, APR, MAY, JUN = (2025 * 12 + m for m in range(6))
PRO_MONTHLY = 299_000
PRO_YEARLY_PER_MONTH = 2_990_000 // 12
ENTERPRISE_MONTHLY = 2_499_000


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


def day_ms(month: int, day: int) -> int:
    return int(at(month, day).timestamp() * 1000)


TENANTS = (
    TenantRecord("tenant-a", at(1, 10), "enterprise"),
    TenantRecord("tenant-b", at(1, 20), "pro"),
    TenantRecord("tenant-c", at(2, 5), "free"),
    TenantRecord("tenant-d", at(3, 1), "free"),
)


def span(tenant: str, plan: str, period: str, start: datetime, end: datetime) -> PaidSpan:
    monthly = {
        ("pro", "monthly"): PRO_MONTHLY,
        ("pro", "yearly"): PRO_YEARLY_PER_MONTH,
        ("enterprise", "monthly"): ENTERPRISE_MONTHLY,
    }[(plan, period)]
    return PaidSpan(tenant, plan, plan, period, monthly, "new", start, end)


SPANS = (
    span("tenant-a", "pro", "monthly", at(2, 1), at(3, 1)),
    *(span("tenant-a", "enterprise", "monthly", at(m, 1), at(m + 1, 1)) for m in range(3, 7)),
    span("tenant-b", "pro", "yearly", at(1, 25), datetime(2026, 1, 25, tzinfo=UTC)),
    span("tenant-c", "pro", "monthly", at(2, 5), at(2, 20)),
)

USAGE: dict[str, list[UsageDay]] = {
    "tenant-a": [
        UsageDay(day_ms(1, 15), 100, 2),
        UsageDay(day_ms(2, 10), 50, 1),
        UsageDay(day_ms(4, 3), 10, 1, api_calls=4),
    ],
    "tenant-b": [UsageDay(day_ms(m, 5), 1000, 10, api_calls=3) for m in range(1, 7)],
    "tenant-c": [UsageDay(day_ms(2, 6), 7, 1)],
}


def history(
    tenants: Sequence[TenantRecord] = TENANTS, spans: Sequence[PaidSpan] = SPANS
) -> PlatformHistory:
    return PlatformHistory(
        tenants=tuple(tenants),
        spans=tuple(spans),
        mrr_idr=ENTERPRISE_MONTHLY + PRO_YEARLY_PER_MONTH,
        mrr_by_plan={"enterprise": ENTERPRISE_MONTHLY, "pro": PRO_YEARLY_PER_MONTH},
        subscriptions_by_status={"active": 2, "expired": 1},
        manual_grants=0,
    )


class ListedDays:
    """A ``DailyUsageSource`` over lists of days per tenant."""

    def __init__(self, days: dict[str, list[UsageDay]]) -> None:
        self.days_by_tenant = {tenant: list(rows) for tenant, rows in days.items()}
        self.calls = 0

    async def days(self, tenant_id: str, start_ms: int, end_ms: int) -> Sequence[UsageDay]:
        self.calls += 1
        rows = self.days_by_tenant.get(tenant_id, [])
        return [row for row in rows if start_ms <= row.day_ms < end_ms]
