"""Orders: created at checkout, sent to Snap, moved by confirmed Midtrans statuses.

Checkout spans two transactions around the Snap call (no transaction stays open during
network I/O): ``create`` stores the order as ``created`` and counts the coupon; then
``record_snap`` stores the token (``pending``) or ``mark_failed`` stores the failure and
gives the coupon back. Both use ``order_state.join``, so a notification that arrived in
between is never undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.ids import new_id
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import (
    InvalidCouponError,
    OrderNotFoundError,
    PlanNotPurchasableError,
)
from chainflow.users.billing.midtrans import SnapTransaction
from chainflow.users.billing.models import BillingOrder
from chainflow.users.billing.order_state import OrderStatus, join
from chainflow.users.billing.plans import PLANS, period_named, plan_named
from chainflow.users.billing.ports import CustomerLookup
from chainflow.users.billing.pricing import CouponTerms, coupon_discount, quote, rate_text
from chainflow.users.billing.repository import BillingLookup, CouponRepository, OrderRepository

ORDER_ID_PREFIX = "CF-"
FAILURE_REASON_LENGTH = 300


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    tenant_id: str
    plan: str
    period: str
    status: str
    subtotal_idr: int
    discount_idr: int
    tax_idr: int
    gross_amount_idr: int
    coupon_code: str | None
    snap_token: str | None
    redirect_url: str | None
    midtrans_status: str | None
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None


def order_view(row: BillingOrder) -> OrderView:
    return OrderView(
        order_id=row.order_id,
        tenant_id=row.tenant_id,
        plan=row.plan,
        period=row.period,
        status=row.status,
        subtotal_idr=row.subtotal_idr,
        discount_idr=row.discount_idr,
        tax_idr=row.tax_idr,
        gross_amount_idr=row.gross_amount_idr,
        coupon_code=row.coupon_code,
        snap_token=row.snap_token,
        redirect_url=row.redirect_url,
        midtrans_status=row.midtrans_status,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        paid_at=row.paid_at,
    )


def snap_payload(
    order: OrderView, row_items: list[Any], customer: dict[str, Any]
) -> dict[str, Any]:
    """Return the body of Snap's ``POST /transactions`` for ``order``."""
    return {
        "transaction_details": {"order_id": order.order_id, "gross_amount": order.gross_amount_idr},
        "item_details": row_items,
        "customer_details": customer,
    }


class OrderService:
    """Create orders and record what Snap answered. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        customer_of: CustomerLookup,
        ppn_rate_percent: Decimal,
        finish_url: str,
    ) -> None:
        self._clock = clock
        self._customer_of = customer_of
        self._rate = ppn_rate_percent
        self._finish_url = finish_url

    async def create(
        self,
        uow: UnitOfWork,
        principal: Principal,
        raw_plan: str,
        raw_period: str,
        coupon_code: str | None,
    ) -> tuple[OrderView, dict[str, Any]]:
        """Store a new order for the caller's tenant; return it and its Snap request body."""
        plan, period = plan_named(raw_plan), period_named(raw_period)
        if not plan.is_paid:
            paid = ", ".join(code for code, p in PLANS.items() if p.is_paid)
            raise PlanNotPurchasableError(
                f"expected a paid plan ({paid}); received {plan.code!r}, which is free: "
                "cancel the subscription to return to it"
            )
        tenant = principal.tenant
        payer = await self._customer_of(uow, principal)
        discount, code = 0, None
        if coupon_code:
            code = coupon_code.strip().upper()
            discount = await self._redeem(uow, code, plan.code, plan.price_idr(period))
        priced = quote(plan, period, self._rate, discount_idr=discount, coupon=code or "")
        customer = {"first_name": payer.name or payer.email.split("@")[0], "email": payer.email}
        items = [item.to_midtrans() for item in priced.items]
        row = BillingOrder(
            order_id=ORDER_ID_PREFIX + new_id(),
            user_id=principal.user_id,
            plan=plan.code,
            period=period.value,
            status=OrderStatus.CREATED.value,
            subtotal_idr=priced.subtotal_idr,
            discount_idr=priced.discount_idr,
            tax_idr=priced.tax_idr,
            gross_amount_idr=priced.gross_amount_idr,
            tax_rate_percent=rate_text(priced.tax_rate_percent),
            item_details=items,
            customer_details=customer,
            coupon_code=code,
        )
        await OrderRepository(uow.session, tenant).add(row)
        view = order_view(row)
        payload = snap_payload(view, items, customer)
        if self._finish_url:
            payload["callbacks"] = {"finish": self._finish_url}
        return view, payload

    async def record_snap(
        self, uow: UnitOfWork, tenant: TenantContext, order_id: str, snap: SnapTransaction
    ) -> OrderView:
        """Store Snap's token and URL; the order now awaits payment."""
        row = await self._locked(uow, tenant, order_id)
        row.snap_token, row.redirect_url = snap.token, snap.redirect_url
        row.status = join(OrderStatus(row.status), OrderStatus.PENDING).value
        return order_view(row)

    async def mark_failed(
        self, uow: UnitOfWork, tenant: TenantContext, order_id: str, reason: str
    ) -> OrderView:
        """Record that Snap refused or failed; give the coupon back if nothing moved on."""
        row = await self._locked(uow, tenant, order_id)
        row.status = join(OrderStatus(row.status), OrderStatus.FAILED).value
        row.failure_reason = reason[:FAILURE_REASON_LENGTH]
        if row.status == OrderStatus.FAILED and row.coupon_code:
            await CouponRepository(uow.session).release(row.coupon_code)
        return order_view(row)

    async def get(self, uow: UnitOfWork, tenant: TenantContext, order_id: str) -> OrderView:
        """Return one of the tenant's orders; another tenant's is not found."""
        row = await OrderRepository(uow.session, tenant).by_order_id(order_id)
        if row is None:
            raise OrderNotFoundError(
                f"expected the id of one of the tenant's orders; received {order_id[:64]!r}"
            )
        return order_view(row)

    async def list_recent(self, uow: UnitOfWork, tenant: TenantContext) -> list[OrderView]:
        """Return the tenant's newest orders."""
        return [order_view(row) for row in await OrderRepository(uow.session, tenant).recent()]

    async def list_all(self, uow: UnitOfWork, status: str | None, limit: int) -> list[OrderView]:
        """Return every tenant's newest orders (superadmins; a ``system=True`` unit of work)."""
        rows = await BillingLookup(uow.session).orders(status, limit)
        return [order_view(row) for row in rows]

    async def _redeem(self, uow: UnitOfWork, code: str, plan_code: str, price_idr: int) -> int:
        coupons = CouponRepository(uow.session)
        row = await coupons.by_code(code)
        if row is None:
            raise InvalidCouponError(f"expected a known coupon code; received {code[:32]!r}")
        terms = CouponTerms(
            code=row.code,
            kind=row.kind,
            value=row.value,
            plans=tuple(row.plans),
            expires_at=row.expires_at,
            max_redemptions=row.max_redemptions,
            redemptions=row.redemptions,
        )
        discount = coupon_discount(terms, plan_named(plan_code), price_idr, self._clock.now())
        if not await coupons.redeem(code):
            raise InvalidCouponError(f"coupon {code!r} was used up by another order just now")
        return discount

    async def _locked(self, uow: UnitOfWork, tenant: TenantContext, order_id: str) -> BillingOrder:
        row = await OrderRepository(uow.session, tenant).by_order_id(order_id, lock=True)
        if row is None:
            raise OrderNotFoundError(f"expected a stored order; {order_id!r} is not one")
        return row
