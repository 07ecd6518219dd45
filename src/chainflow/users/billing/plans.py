"""The plan table: Free, Pro and Enterprise, monthly and yearly, in whole rupiah.

Each plan is tied to a ``core.auth.Tier``; paying for a plan moves the tenant to its tier,
whose limits (``core.auth.TIER_LIMITS``) the gateway applies. Prices are integers in IDR:
Midtrans takes whole rupiah, so no amount on the money path is ever a float.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chainflow.core.auth import Tier
from chainflow.users.billing.errors import InvalidPeriodError, InvalidPlanError


class Period(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


PERIOD_MONTHS: dict[Period, int] = {Period.MONTHLY: 1, Period.YEARLY: 12}
TIER_RANK: dict[Tier, int] = {Tier.FREE: 0, Tier.PRO: 1, Tier.ENTERPRISE: 2}


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan a tenant can be on; ``prices`` in whole rupiah per period."""

    code: str
    name: str
    tier: Tier
    monthly_idr: int
    yearly_idr: int

    def price_idr(self, period: Period) -> int:
        return self.monthly_idr if period is Period.MONTHLY else self.yearly_idr

    @property
    def is_paid(self) -> bool:
        return self.monthly_idr > 0


PLANS: dict[str, Plan] = {
    "free": Plan("free", "ChainFlow Free", Tier.FREE, monthly_idr=0, yearly_idr=0),
    "pro": Plan("pro", "ChainFlow Pro", Tier.PRO, monthly_idr=299_000, yearly_idr=2_990_000),
    "enterprise": Plan(
        "enterprise",
        "ChainFlow Enterprise",
        Tier.ENTERPRISE,
        monthly_idr=2_499_000,
        yearly_idr=24_990_000,
    ),
}


def higher_tier(first: Tier, second: Tier) -> Tier:
    """Return the higher of two tiers (free < pro < enterprise)."""
    return first if TIER_RANK[first] >= TIER_RANK[second] else second


def monthly_idr(plan: Plan, period: Period) -> int:
    """Return the plan's price per month for ``period``, floored to the rupiah (for MRR)."""
    return plan.price_idr(period) // PERIOD_MONTHS[period]


def plan_named(code: str) -> Plan:
    """Return the plan called ``code``; raise ``InvalidPlanError`` for an unknown one."""
    plan = PLANS.get(code)
    if plan is None:
        raise InvalidPlanError(
            f"plan must be one of {', '.join(PLANS)}; received {code[:40]!r}",
            details={"plans": list(PLANS)},
        )
    return plan


def period_named(raw: str) -> Period:
    """Return ``raw`` as a billing period; raise ``InvalidPeriodError`` otherwise."""
    try:
        return Period(raw)
    except ValueError as e:
        raise InvalidPeriodError(
            f"period must be one of {', '.join(Period)}; received {raw[:40]!r}"
        ) from e


def add_months(start: datetime, months: int) -> datetime:
    """Return ``start`` plus ``months`` calendar months (the day clamped to the month's end)."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def period_end(start: datetime, period: Period) -> datetime:
    """Return when a period of ``period`` length that begins at ``start`` ends."""
    return add_months(start, PERIOD_MONTHS[period])


def usd_cents(amount_idr: int, idr_per_usd: int) -> int:
    """Return ``amount_idr`` in US cents, rounded half up (for display only)."""
    return (amount_idr * 100 * 2 + idr_per_usd) // (2 * idr_per_usd)
