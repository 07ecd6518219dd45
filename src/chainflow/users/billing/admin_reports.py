"""Superadmin views of billing: subscriptions, problem payments, and the inputs of MRR.

MRR counts subscriptions that pay (``active`` and ``past_due``, in grace) at the plan's
effective price (the plan table with the superadmin's overrides in force now,
``plan_prices``) normalized to a month (a yearly price divided by 12, floored to the
rupiah), before coupons and PPN; ``canceled`` ones (paid, ending) and ``trialing`` ones (not paying)
are counted apart, as are tenants on a manual grant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.audit import AuditTrail
from chainflow.users.billing.order_state import OrderStatus
from chainflow.users.billing.orders import OrderView, order_view
from chainflow.users.billing.plan_prices import PlanPriceService
from chainflow.users.billing.plans import Period, monthly_idr, plan_named
from chainflow.users.billing.repository import BillingLookup
from chainflow.users.billing.subscription_state import SubscriptionView, view_of

PAYMENT_GROUPS: dict[str, frozenset[OrderStatus]] = {
    "failed": frozenset(
        {OrderStatus.FAILED, OrderStatus.DENIED, OrderStatus.EXPIRED, OrderStatus.CANCELED}
    ),
    "pending": frozenset({OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.CHALLENGE}),
}
PAYING = ("active", "past_due")


@dataclass(frozen=True, slots=True)
class TenantSubscription:
    tenant_id: str
    subscription: SubscriptionView


@dataclass(frozen=True, slots=True)
class MrrLine:
    plan: str
    period: str
    subscriptions: int
    list_price_idr: int
    monthly_idr: int


@dataclass(frozen=True, slots=True)
class MrrInputs:
    lines: tuple[MrrLine, ...]
    mrr_idr: int
    by_status: dict[str, int]
    manual_grants: int


class AdminReports:
    """Read billing across tenants (a ``system=True`` unit of work)."""

    def __init__(self, clock: Clock, *, prices: PlanPriceService | None = None) -> None:
        self._clock = clock
        # Reading effective prices records nothing, so a private audit trail will do.
        self._prices = prices or PlanPriceService(clock=clock, audit=AuditTrail(clock))

    async def subscriptions(
        self, uow: UnitOfWork, status: str | None, limit: int
    ) -> list[TenantSubscription]:
        rows = await BillingLookup(uow.session).subscriptions(status, limit)
        return [TenantSubscription(row.tenant_id, view_of(row)) for row in rows]

    async def payments(self, uow: UnitOfWork, group: str, limit: int) -> list[OrderView]:
        """Return the newest orders in ``group`` (``failed`` or ``pending``)."""
        statuses = {status.value for status in PAYMENT_GROUPS[group]}
        rows = await BillingLookup(uow.session).orders_in(statuses, limit)
        return [order_view(row) for row in rows]

    async def mrr(self, uow: UnitOfWork) -> MrrInputs:
        lookup = BillingLookup(uow.session)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        by_status: dict[str, int] = defaultdict(int)
        for plan_code, period_code, status, n in await lookup.subscription_counts():
            by_status[status] += n
            if status in PAYING:
                counts[(plan_code, period_code)] += n
        effective = {plan.code: plan for plan in await self._prices.effective_plans(uow)}
        lines = []
        for (plan_code, period_code), n in sorted(counts.items()):
            plan, period = effective.get(plan_code) or plan_named(plan_code), Period(period_code)
            per_month = monthly_idr(plan, period)
            lines.append(MrrLine(plan_code, period_code, n, plan.price_idr(period), per_month * n))
        return MrrInputs(
            lines=tuple(lines),
            mrr_idr=sum(line.monthly_idr for line in lines),
            by_status=dict(by_status),
            manual_grants=await lookup.active_grant_count(self._clock.now()),
        )
