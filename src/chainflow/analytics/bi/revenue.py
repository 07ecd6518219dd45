"""Revenue and plan conversion from billing's paid spans (``users.api.PaidSpan``).

- **Paying months**: the months a tenant's paid spans overlap.
- **MRR of a month**: the plans' monthly list prices of the spans in force at the month's
  last instant (or at ``now`` for the month under way), as billing counts MRR.
- **Conversion**: every tenant signs up on Free. Its first paid span says Free→Pro or
  Free→Enterprise; a Pro span followed later by an Enterprise span is Pro→Enterprise.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.analytics.bi.months import month_of, month_start
from chainflow.users.api import PaidSpan, TenantRecord

PRO = "pro"
ENTERPRISE = "enterprise"
LAST_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class MonthRevenue:
    month: int
    mrr_idr: int
    by_plan: dict[str, int]
    paying_tenants: int


@dataclass(frozen=True, slots=True)
class ConversionMonth:
    month: int
    signups: int
    free_to_pro: int
    free_to_enterprise: int
    pro_to_enterprise: int


@dataclass(frozen=True, slots=True)
class Conversion:
    signups: int
    paid_ever: int
    free_to_pro: int
    free_to_enterprise: int
    pro_ever: int
    pro_to_enterprise: int
    free_to_paid_rate: float | None
    free_to_pro_rate: float | None
    pro_to_enterprise_rate: float | None
    median_days_to_first_payment: float | None
    by_month: tuple[ConversionMonth, ...]


def paying_months(spans: Iterable[PaidSpan]) -> dict[str, set[int]]:
    """Return the months each tenant's paid spans overlap."""
    months: dict[str, set[int]] = defaultdict(set)
    for span in spans:
        months[span.tenant_id].update(
            range(month_of(span.start), month_of(span.end - LAST_INSTANT) + 1)
        )
    return months


def revenue_by_month(
    spans: Sequence[PaidSpan], first: int, last: int, now: datetime
) -> list[MonthRevenue]:
    """Return the MRR of each month from ``first`` to ``last`` at its last instant (``now``
    for a month not over yet); a tenant with overlapping spans counts its dearest one."""
    rows = []
    for month in range(first, last + 1):
        instant = min(month_start(month + 1) - LAST_INSTANT, now)
        dearest: dict[str, PaidSpan] = {}
        for span in spans:
            if span.start <= instant < span.end:
                kept = dearest.get(span.tenant_id)
                if kept is None or span.monthly_idr > kept.monthly_idr:
                    dearest[span.tenant_id] = span
        by_plan: dict[str, int] = defaultdict(int)
        for span in dearest.values():
            by_plan[span.plan] += span.monthly_idr
        rows.append(MonthRevenue(month, sum(by_plan.values()), dict(by_plan), len(dearest)))
    return rows


def conversion(
    tenants: Sequence[TenantRecord], spans: Sequence[PaidSpan], first: int, last: int
) -> Conversion:
    """Return the Free→Pro→Enterprise funnel over every tenant, and per month from
    ``first`` to ``last`` (signups, and conversions by the month they were paid for)."""
    by_tenant: dict[str, list[PaidSpan]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: s.start):
        by_tenant[span.tenant_id].append(span)
    signed_up = {t.tenant_id: t.created_at for t in tenants}
    monthly = {m: [0, 0, 0, 0] for m in range(first, last + 1)}
    for record in tenants:
        row = monthly.get(month_of(record.created_at))
        if row is not None:
            row[0] += 1
    to_pro = to_enterprise = pro_ever = pro_then_enterprise = 0
    waits: list[float] = []
    for tenant_id, paid in by_tenant.items():
        first_span = paid[0]
        if tenant_id in signed_up:
            waits.append((first_span.start - signed_up[tenant_id]).total_seconds() / 86_400)
        column = 1 if first_span.tier == PRO else 2
        to_pro += column == 1
        to_enterprise += column == 2
        _count(monthly, first_span.start, column)
        first_pro = next((s for s in paid if s.tier == PRO), None)
        if first_pro is None:
            continue
        pro_ever += 1
        upgrade = next(
            (s for s in paid if s.tier == ENTERPRISE and s.start >= first_pro.start), None
        )
        if upgrade is not None:
            pro_then_enterprise += 1
            _count(monthly, upgrade.start, 3)
    signups = len(tenants)
    paid_ever = len(by_tenant)
    return Conversion(
        signups=signups,
        paid_ever=paid_ever,
        free_to_pro=to_pro,
        free_to_enterprise=to_enterprise,
        pro_ever=pro_ever,
        pro_to_enterprise=pro_then_enterprise,
        free_to_paid_rate=_rate(paid_ever, signups),
        free_to_pro_rate=_rate(to_pro, signups),
        pro_to_enterprise_rate=_rate(pro_then_enterprise, pro_ever),
        median_days_to_first_payment=round(statistics.median(waits), 3) if waits else None,
        by_month=tuple(ConversionMonth(m, *row) for m, row in monthly.items()),
    )


def _count(monthly: Mapping[int, list[int]], moment: datetime, column: int) -> None:
    row = monthly.get(month_of(moment))
    if row is not None:
        row[column] += 1


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
