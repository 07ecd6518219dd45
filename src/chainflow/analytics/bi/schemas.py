"""Wire models of ``/api/v1/admin/analytics`` (amounts in whole rupiah, months ``YYYY-MM``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chainflow.analytics.bi.months import month_label
from chainflow.analytics.bi.movement import Cohort, Movement
from chainflow.analytics.bi.revenue import Conversion
from chainflow.analytics.bi.snapshot import MonthFigures, PlatformSnapshot, TierUsage


class MovementOut(BaseModel):
    active: int
    new: int
    churned: int
    reactivated: int


class TierUsageOut(BaseModel):
    tier: str
    tenants: int
    active_tenants: int
    ticks: int
    messages: int
    api_calls: int = Field(description="0 where API calls are not metered")
    terminals: int = Field(description="active MT5 terminals (the month under way only)")


class MrrMonthOut(BaseModel):
    month: str
    mrr_idr: int
    arr_idr: int
    paying_tenants: int
    by_plan: dict[str, int]


class MonthOut(BaseModel):
    month: str
    signups: int
    activity: MovementOut = Field(description="tenants with metered usage in the month")
    paying: MovementOut = Field(description="tenants with a paid period in the month")
    mrr_idr: int


class MrrOut(BaseModel):
    as_of: int
    mrr_idr: int = Field(description="billing's MRR now: paying subscriptions at list price")
    arr_idr: int
    by_plan: dict[str, int]
    subscriptions_by_status: dict[str, int]
    manual_grants: int
    months: list[MrrMonthOut]


class CohortOut(BaseModel):
    month: str
    tenants: int
    active: list[int] = Field(description="active[k]: the cohort's tenants active in month + k")
    retention: list[float | None]


class CohortsOut(BaseModel):
    as_of: int
    items: list[CohortOut]


class ConversionMonthOut(BaseModel):
    month: str
    signups: int
    free_to_pro: int
    free_to_enterprise: int
    pro_to_enterprise: int


class ConversionOut(BaseModel):
    as_of: int
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
    months: list[ConversionMonthOut]


class UsageOut(BaseModel):
    as_of: int
    month: str
    terminals: int
    items: list[TierUsageOut]


class OverviewOut(BaseModel):
    as_of: int
    computed_in_ms: float
    tenants: int
    active_terminals: int
    terminals_by_tier: dict[str, int]
    mrr: MrrOut
    months: list[MonthOut]
    cohorts: list[CohortOut]
    conversion: ConversionOut
    usage: UsageOut


class RefreshOut(BaseModel):
    as_of: int
    computed_in_ms: float


def movement_out(movement: Movement) -> MovementOut:
    return MovementOut(
        active=movement.active,
        new=movement.new,
        churned=movement.churned,
        reactivated=movement.reactivated,
    )


def tier_usage_out(row: TierUsage) -> TierUsageOut:
    return TierUsageOut.model_validate(row, from_attributes=True)


def mrr_out(snapshot: PlatformSnapshot) -> MrrOut:
    months = [
        MrrMonthOut(
            month=month_label(m.month),
            mrr_idr=m.revenue.mrr_idr,
            arr_idr=m.revenue.mrr_idr * 12,
            paying_tenants=m.revenue.paying_tenants,
            by_plan=m.revenue.by_plan,
        )
        for m in snapshot.months
    ]
    return MrrOut(
        as_of=snapshot.as_of_ms,
        mrr_idr=snapshot.mrr_idr,
        arr_idr=snapshot.arr_idr,
        by_plan=snapshot.mrr_by_plan,
        subscriptions_by_status=snapshot.subscriptions_by_status,
        manual_grants=snapshot.manual_grants,
        months=months,
    )


def cohort_out(cohort: Cohort) -> CohortOut:
    size = cohort.tenants
    return CohortOut(
        month=month_label(cohort.month),
        tenants=size,
        active=list(cohort.active),
        retention=[round(n / size, 6) if size else None for n in cohort.active],
    )


def cohorts_out(snapshot: PlatformSnapshot) -> CohortsOut:
    return CohortsOut(as_of=snapshot.as_of_ms, items=[cohort_out(c) for c in snapshot.cohorts])


def conversion_out(snapshot: PlatformSnapshot) -> ConversionOut:
    found: Conversion = snapshot.conversion
    return ConversionOut(
        as_of=snapshot.as_of_ms,
        signups=found.signups,
        paid_ever=found.paid_ever,
        free_to_pro=found.free_to_pro,
        free_to_enterprise=found.free_to_enterprise,
        pro_ever=found.pro_ever,
        pro_to_enterprise=found.pro_to_enterprise,
        free_to_paid_rate=found.free_to_paid_rate,
        free_to_pro_rate=found.free_to_pro_rate,
        pro_to_enterprise_rate=found.pro_to_enterprise_rate,
        median_days_to_first_payment=found.median_days_to_first_payment,
        months=[
            ConversionMonthOut(
                month=month_label(m.month),
                signups=m.signups,
                free_to_pro=m.free_to_pro,
                free_to_enterprise=m.free_to_enterprise,
                pro_to_enterprise=m.pro_to_enterprise,
            )
            for m in found.by_month
        ],
    )


def usage_out(snapshot: PlatformSnapshot, figures: MonthFigures) -> UsageOut:
    return UsageOut(
        as_of=snapshot.as_of_ms,
        month=month_label(figures.month),
        terminals=snapshot.terminals if figures.month == snapshot.last_month else 0,
        items=[tier_usage_out(row) for row in figures.usage],
    )


def month_out(figures: MonthFigures) -> MonthOut:
    return MonthOut(
        month=month_label(figures.month),
        signups=figures.signups,
        activity=movement_out(figures.activity),
        paying=movement_out(figures.paying),
        mrr_idr=figures.revenue.mrr_idr,
    )


def overview_out(snapshot: PlatformSnapshot) -> OverviewOut:
    current = snapshot.months[-1]
    return OverviewOut(
        as_of=snapshot.as_of_ms,
        computed_in_ms=snapshot.computed_in_ms,
        tenants=snapshot.tenants,
        active_terminals=snapshot.terminals,
        terminals_by_tier=snapshot.terminals_by_tier,
        mrr=mrr_out(snapshot),
        months=[month_out(m) for m in snapshot.months],
        cohorts=cohorts_out(snapshot).items,
        conversion=conversion_out(snapshot),
        usage=usage_out(snapshot, current),
    )
