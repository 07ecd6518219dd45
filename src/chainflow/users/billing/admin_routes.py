"""Routes of ``/api/v1/admin/billing``, for superadmins: every tenant's orders and
subscriptions, failed and pending payments, MRR inputs, coupons, manual tier grants,
refunds, the audit trail, and the sweep on demand."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from chainflow.core.auth import Principal, Tier
from chainflow.core.clock import Clock
from chainflow.gateway.api import require_superadmin
from chainflow.storage.relational import Database
from chainflow.users.billing.admin_schemas import (
    AuditEntryOut,
    AuditOut,
    GrantIn,
    GrantOut,
    MrrOut,
    PlanPriceIn,
    PlanPriceOut,
    PlanPricesOut,
    RefundIn,
    RefundOut,
    RevokeGrantIn,
    TenantSubscriptionOut,
    TenantSubscriptionsOut,
)
from chainflow.users.billing.coupons import CouponCreate
from chainflow.users.billing.order_state import OrderStatus
from chainflow.users.billing.schemas import CouponCreateIn, CouponOut, OrderOut, OrdersOut, SweepOut
from chainflow.users.billing.service import BillingService
from chainflow.users.billing.subscription_state import SubscriptionStatus
from chainflow.users.billing.sweep import sweep_subscriptions

Superadmin = Annotated[Principal, Depends(require_superadmin)]
Limit = Annotated[int, Query(ge=1, le=500)]
ReasonQuery = Annotated[str, Query(min_length=3, max_length=500, description="kept in the audit")]


class PaymentGroup(StrEnum):
    FAILED = "failed"
    PENDING = "pending"


def build_billing_admin_router(
    billing: BillingService, database: Database, clock: Clock
) -> APIRouter:
    """Return the superadmin billing routes, to mount under ``/api/v1``."""
    router = APIRouter(tags=["admin"])

    @router.get("/admin/billing/orders", summary="Every tenant's orders")
    async def list_all_orders(
        _principal: Superadmin,
        order_status: Annotated[OrderStatus | None, Query(alias="status")] = None,
        limit: Limit = 100,
    ) -> OrdersOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            orders = await billing.orders.list_all(
                uow, order_status.value if order_status else None, limit
            )
        return OrdersOut(items=[OrderOut.model_validate(o, from_attributes=True) for o in orders])

    @router.post(
        "/admin/billing/coupons",
        status_code=status.HTTP_201_CREATED,
        summary="Create a coupon",
    )
    async def create_coupon(body: CouponCreateIn, _principal: Superadmin) -> CouponOut:
        terms = CouponCreate(
            code=body.code,
            kind=body.kind,
            value=body.value,
            plans=tuple(body.plans),
            expires_at=body.expires_at,
            max_redemptions=body.max_redemptions,
        )
        async with database.unit_of_work(system=True) as uow:
            coupon = await billing.coupons.create(uow, terms)
        return CouponOut.model_validate(coupon, from_attributes=True)

    @router.post(
        "/admin/billing/sweep",
        summary="Expire and downgrade due subscriptions now (also runs periodically)",
    )
    async def sweep_now(_principal: Superadmin) -> SweepOut:
        result = await sweep_subscriptions(database, billing, clock)
        return SweepOut(visited=result.visited, changed=result.changed, renewals=result.renewals)

    @router.get("/admin/billing/subscriptions", summary="Every tenant's subscription")
    async def list_subscriptions(
        _principal: Superadmin,
        subscription_status: Annotated[SubscriptionStatus | None, Query(alias="status")] = None,
        limit: Limit = 100,
    ) -> TenantSubscriptionsOut:
        wanted = subscription_status.value if subscription_status else None
        async with database.unit_of_work(system=True, read_only=True) as uow:
            items = await billing.reports.subscriptions(uow, wanted, limit)
        return TenantSubscriptionsOut(
            items=[TenantSubscriptionOut.model_validate(i, from_attributes=True) for i in items]
        )

    @router.get(
        "/admin/billing/payments",
        summary="Failed (failed, denied, expired, canceled) or pending payments",
    )
    async def list_payments(
        _principal: Superadmin, group: PaymentGroup, limit: Limit = 100
    ) -> OrdersOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            orders = await billing.reports.payments(uow, group.value, limit)
        return OrdersOut(items=[OrderOut.model_validate(o, from_attributes=True) for o in orders])

    @router.get("/admin/billing/mrr", summary="MRR inputs: paying subscriptions by plan, period")
    async def get_mrr(_principal: Superadmin) -> MrrOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            inputs = await billing.reports.mrr(uow)
        return MrrOut.model_validate(inputs, from_attributes=True)

    @router.post(
        "/admin/billing/grants",
        status_code=status.HTTP_201_CREATED,
        summary="Grant a tenant a tier by hand (kept by the expiry sweep; audited)",
        responses={404: {"description": "No such tenant"}},
    )
    async def grant_tier(body: GrantIn, principal: Superadmin) -> GrantOut:
        until: datetime | None = body.until
        async with database.unit_of_work(system=True) as uow:
            view = await billing.grants.grant(
                uow, principal.user_id, body.tenant_id, Tier(body.tier), until, body.reason
            )
        return GrantOut.model_validate(view, from_attributes=True)

    @router.post(
        "/admin/billing/grants/{tenant_id}/revoke",
        summary="Remove a tenant's manual tier grant (audited)",
        responses={404: {"description": "The tenant has no grant"}},
    )
    async def revoke_grant(tenant_id: str, body: RevokeGrantIn, principal: Superadmin) -> GrantOut:
        async with database.unit_of_work(system=True) as uow:
            view = await billing.grants.revoke(uow, principal.user_id, tenant_id, body.reason)
        return GrantOut.model_validate(view, from_attributes=True)

    @router.post(
        "/admin/billing/orders/{order_id}/refund",
        summary="Refund a paid order through Midtrans (all or part; audited)",
        responses={
            404: {"description": "No such order"},
            409: {"description": "The order is not paid, or the amount is too high"},
            502: {"description": "Midtrans refused or failed"},
        },
    )
    async def refund_order(order_id: str, body: RefundIn, principal: Superadmin) -> RefundOut:
        outcome = await billing.refunds.refund(
            principal.user_id, order_id, body.amount_idr, body.reason
        )
        return RefundOut.model_validate(outcome, from_attributes=True)

    @router.get("/admin/billing/plans/prices", summary="Plan prices: code, override, effective")
    async def list_plan_prices(_principal: Superadmin) -> PlanPricesOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            views = await billing.prices.list_prices(uow)
        return PlanPricesOut(
            items=[PlanPriceOut.model_validate(v, from_attributes=True) for v in views]
        )

    @router.put(
        "/admin/billing/plans/{plan}/{period}/price",
        summary="Override a plan's price for a period, now or from effective_from (audited)",
        responses={422: {"description": "Unknown or free plan, unknown period, bad price"}},
    )
    async def set_plan_price(
        plan: str, period: str, body: PlanPriceIn, principal: Superadmin
    ) -> PlanPriceOut:
        async with database.unit_of_work(system=True) as uow:
            view = await billing.prices.set_price(
                uow,
                principal.user_id,
                plan,
                period,
                body.price_idr,
                body.effective_from,
                body.reason,
            )
        return PlanPriceOut.model_validate(view, from_attributes=True)

    @router.delete(
        "/admin/billing/plans/{plan}/{period}/price",
        summary="Remove a plan's price override: the plan table's price applies (audited)",
        responses={404: {"description": "The plan and period have no override"}},
    )
    async def revert_plan_price(
        plan: str, period: str, principal: Superadmin, reason: ReasonQuery
    ) -> PlanPriceOut:
        async with database.unit_of_work(system=True) as uow:
            view = await billing.prices.revert(uow, principal.user_id, plan, period, reason)
        return PlanPriceOut.model_validate(view, from_attributes=True)

    @router.get("/admin/billing/audit", summary="Who granted, revoked or refunded what, and why")
    async def list_audit(
        _principal: Superadmin, tenant_id: str | None = None, limit: Limit = 100
    ) -> AuditOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            entries = await billing.audit.recent(uow, tenant_id, limit)
        return AuditOut(
            items=[AuditEntryOut.model_validate(e, from_attributes=True) for e in entries]
        )

    return router
