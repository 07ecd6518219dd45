"""Billing history across tenants, for the superadmins' business analytics.

Every tenant's signup time and tier, the period each paid order granted (cut short when a
refund or cancellation took it back), and the MRR inputs of now (``admin_reports``). Read
in one ``system=True`` unit of work; the analytics service turns it into MRR per month,
paying-tenant movements and plan conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from chainflow.core.clock import Clock
from chainflow.storage.relational import Database
from chainflow.users.billing.admin_reports import AdminReports
from chainflow.users.billing.order_state import GRANTING, REVOKING
from chainflow.users.billing.plans import PLANS, Period, monthly_idr
from chainflow.users.billing.repository import BillingLookup
from chainflow.users.models import Tenant

# Every order that was ever paid: an upper bound, not a page size.
MAX_ORDERS = 10_000_000


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant's signup time and its tier now."""

    tenant_id: str
    created_at: datetime
    tier: str


@dataclass(frozen=True, slots=True)
class PaidSpan:
    """The period one paid order gave its tenant, ``start <= t < end``.

    ``end`` is the earlier of the granted period's end and when a refund or cancellation
    took the grant back. ``monthly_idr`` is the plan's list price per month (as MRR counts
    it: a yearly price over 12, floored), ``kind`` is ``new``, ``upgrade`` or ``renewal``.
    """

    tenant_id: str
    plan: str
    tier: str
    period: str
    monthly_idr: int
    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class PlatformHistory:
    """What business analytics reads from billing; ``mrr_idr`` is billing's MRR of now."""

    tenants: tuple[TenantRecord, ...]
    spans: tuple[PaidSpan, ...]
    mrr_idr: int
    mrr_by_plan: dict[str, int]
    subscriptions_by_status: dict[str, int]
    manual_grants: int


async def read_platform_history(database: Database, clock: Clock) -> PlatformHistory:
    """Return every tenant, every paid span and the MRR inputs of now."""
    statuses = {status.value for status in GRANTING | REVOKING}
    async with database.unit_of_work(system=True, read_only=True) as uow:
        tenant_rows = (
            await uow.session.execute(select(Tenant.id, Tenant.created_at, Tenant.tier))
        ).all()
        orders = await BillingLookup(uow.session).orders_in(statuses, MAX_ORDERS)
        mrr = await AdminReports(clock).mrr(uow)
    tenants = tuple(
        TenantRecord(str(tenant_id), created_at, str(tier))
        for tenant_id, created_at, tier in tenant_rows
    )
    spans: list[PaidSpan] = []
    for order in orders:
        start, end = order.granted_period_start, order.granted_period_end
        plan = PLANS.get(order.plan)
        if order.granted_at is None or start is None or end is None or plan is None:
            continue
        if order.revoked_at is not None:
            end = min(end, order.revoked_at)
        if end <= start:
            continue
        period = Period(order.period)
        spans.append(
            PaidSpan(
                tenant_id=order.tenant_id,
                plan=plan.code,
                tier=plan.tier.value,
                period=period.value,
                monthly_idr=monthly_idr(plan, period),
                kind=order.kind,
                start=start,
                end=end,
            )
        )
    by_plan: dict[str, int] = {}
    for line in mrr.lines:
        by_plan[line.plan] = by_plan.get(line.plan, 0) + line.monthly_idr
    return PlatformHistory(
        tenants=tenants,
        spans=tuple(sorted(spans, key=lambda s: (s.tenant_id, s.start))),
        mrr_idr=mrr.mrr_idr,
        mrr_by_plan=by_plan,
        subscriptions_by_status=dict(mrr.by_status),
        manual_grants=mrr.manual_grants,
    )
