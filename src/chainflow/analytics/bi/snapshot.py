"""The platform snapshot: every business figure the superadmin routes answer, computed at
once from billing's history, the monthly usage rollup and the terminal tracker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chainflow.analytics.bi.months import month_of
from chainflow.analytics.bi.movement import Cohort, Movement, cohorts, movements
from chainflow.analytics.bi.revenue import (
    Conversion,
    MonthRevenue,
    conversion,
    paying_months,
    revenue_by_month,
)
from chainflow.analytics.bi.usage import MonthlyUsage
from chainflow.core.auth import Tier
from chainflow.users.api import PlatformHistory

ARR_MONTHS = 12


@dataclass(frozen=True, slots=True)
class TierUsage:
    tier: str
    tenants: int
    active_tenants: int
    ticks: int
    messages: int
    api_calls: int
    terminals: int


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One month: signups, activity and paying movements, revenue, usage per tier."""

    month: int
    signups: int
    activity: Movement
    paying: Movement
    revenue: MonthRevenue
    usage: tuple[TierUsage, ...]


@dataclass(frozen=True, slots=True)
class PlatformSnapshot:
    as_of_ms: int
    computed_in_ms: float
    first_month: int
    last_month: int
    tenants: int
    mrr_idr: int
    mrr_by_plan: dict[str, int]
    subscriptions_by_status: dict[str, int]
    manual_grants: int
    months: tuple[MonthFigures, ...]
    cohorts: tuple[Cohort, ...]
    conversion: Conversion
    terminals: int
    terminals_by_tier: dict[str, int]

    @property
    def arr_idr(self) -> int:
        return self.mrr_idr * ARR_MONTHS

    def month(self, month: int) -> MonthFigures | None:
        return next((m for m in self.months if m.month == month), None)


def usage_by_tier(
    tiers: Mapping[str, str], usage: MonthlyUsage, month: int, terminals: Counter[str]
) -> tuple[TierUsage, ...]:
    """Return ``month``'s usage summed per tier (each tenant under its tier of now)."""
    sums = {tier.value: [0, 0, 0, 0, 0, 0] for tier in Tier}
    for tenant_id, tier in tiers.items():
        row = sums.setdefault(tier, [0, 0, 0, 0, 0, 0])
        row[0] += 1
        figures = usage.get(tenant_id, {}).get(month)
        if figures is not None:
            row[1] += int(figures.is_active)
            row[2] += figures.ticks
            row[3] += figures.messages
            row[4] += figures.api_calls
        row[5] += terminals.get(tenant_id, 0)
    return tuple(TierUsage(tier, *row) for tier, row in sums.items())


def build_snapshot(
    history: PlatformHistory,
    usage: MonthlyUsage,
    terminals: Counter[str],
    *,
    now: datetime,
    months: int,
    computed_in_ms: float = 0.0,
) -> PlatformSnapshot:
    """Return the snapshot of the ``months`` months ending with ``now``'s."""
    last = month_of(now)
    first = last - months + 1
    signups = {t.tenant_id: month_of(t.created_at) for t in history.tenants}
    tiers = {t.tenant_id: t.tier for t in history.tenants}
    active = {
        tenant_id: {m for m, figures in by_month.items() if figures.is_active}
        for tenant_id, by_month in usage.items()
    }
    paying = paying_months(history.spans)
    revenue = revenue_by_month(list(history.spans), first, last, now)
    signup_counts = Counter(signups.values())
    figures = tuple(
        MonthFigures(
            month=activity.month,
            signups=signup_counts.get(activity.month, 0),
            activity=activity,
            paying=paid,
            revenue=money,
            usage=usage_by_tier(
                tiers, usage, activity.month, terminals if activity.month == last else Counter()
            ),
        )
        for activity, paid, money in zip(
            movements(active, first, last), movements(paying, first, last), revenue, strict=True
        )
    )
    by_tier: Counter[str] = Counter()
    for tenant_id, count in terminals.items():
        by_tier[tiers.get(tenant_id, Tier.FREE.value)] += count
    return PlatformSnapshot(
        as_of_ms=int(now.timestamp() * 1000),
        computed_in_ms=computed_in_ms,
        first_month=first,
        last_month=last,
        tenants=len(history.tenants),
        mrr_idr=history.mrr_idr,
        mrr_by_plan=dict(history.mrr_by_plan),
        subscriptions_by_status=dict(history.subscriptions_by_status),
        manual_grants=history.manual_grants,
        months=figures,
        cohorts=tuple(cohorts(signups, active, first, last)),
        conversion=conversion(history.tenants, history.spans, first, last),
        terminals=sum(terminals.values()),
        terminals_by_tier=dict(by_tier),
    )
