"""Orders: created at checkout (or by the sweep, for a renewal), sent to Snap, moved by
confirmed Midtrans statuses.

A checkout of a higher plan than the live subscription's is an ``upgrade``: it carries a
negative ``proration`` line crediting the unused part of the current plan (``proration``).
A checkout of a lower plan is refused: downgrades are scheduled for the period end
(``SubscriptionService.schedule_downgrade``). A tenant redeems each coupon at most once.

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
    DowngradeAtPeriodEndError,
    InvalidCouponError,
    OrderNotFoundError,
    PlanNotPurchasableError,
)
from chainflow.users.billing.midtrans import PaymentLink, SnapTransaction
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.order_state import OrderStatus, join
from chainflow.users.billing.plan_prices import PlanPriceService
from chainflow.users.billing.plans import (
    PLANS,
    TIER_RANK,
    Period,
    Plan,
    period_named,
    plan_named,
)
from chainflow.users.billing.ports import CustomerLookup
from chainflow.users.billing.pricing import (
    CouponTerms,
    LineItem,
    Quote,
    coupon_discount,
    quote,
    rate_text,
)
from chainflow.users.billing.proration import PaidSpan, upgrade_credit
from chainflow.users.billing.repository import (
    BillingLookup,
    CouponRedemptionRepository,
    CouponRepository,
    OrderRepository,
    SubscriptionRepository,
)
from chainflow.users.billing.subscription_state import LIVE

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
    kind: str
    credit_idr: int
    midtrans_order_id: str | None = None

    @property
    def transaction_id(self) -> str:
        """The id Midtrans knows the paying transaction by (for status and refunds)."""
        return self.midtrans_order_id or self.order_id


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
        kind=row.kind,
        credit_idr=row.credit_idr,
        midtrans_order_id=row.midtrans_order_id,
    )


def snap_payload(
    order: OrderView, row_items: list[Any], customer: dict[str, Any]
) -> dict[str, Any]:
    """Return the body of Snap's ``POST /transactions`` for ``order``. A card payer may
    save the card (``save_card``, kept per tenant by ``user_id``): its ``saved_token_id``
    lets the tenant renew by card (``card_subscriptions``)."""
    return {
        "transaction_details": {"order_id": order.order_id, "gross_amount": order.gross_amount_idr},
        "item_details": row_items,
        "customer_details": customer,
        "credit_card": {"secure": True, "save_card": True},
        "user_id": order.tenant_id,
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
        prices: PlanPriceService,
    ) -> None:
        self._clock = clock
        self._prices = prices
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
        plan = await self._prices.effective_plan(uow, plan)
        if not plan.is_paid:
            paid = ", ".join(code for code, p in PLANS.items() if p.is_paid)
            raise PlanNotPurchasableError(
                f"expected a paid plan ({paid}); received {plan.code!r}, which is free: "
                "cancel the subscription to return to it"
            )
        tenant = principal.tenant
        customer = await self.customer(uow, principal)
        subscription = await SubscriptionRepository(uow.session, tenant).current()
        kind = _kind_of(subscription, plan)
        order_id = ORDER_ID_PREFIX + new_id()
        price = plan.price_idr(period)
        discount, code = 0, None
        if coupon_code:
            code = coupon_code.strip().upper()
            discount = await self._redeem(uow, tenant, code, plan.code, price, order_id)
        credit = 0
        if kind == "upgrade" and subscription is not None:
            granted = await OrderRepository(uow.session, tenant).granted(subscription.plan)
            spans = [_paid_span(order) for order in granted]
            credit = upgrade_credit(
                [span for span in spans if span is not None], self._clock.now(), price - discount
            )
        priced = quote(
            plan, period, self._rate, discount_idr=discount, coupon=code or "", credit_idr=credit
        )
        draft = _Draft(order_id, principal.user_id, plan, period, priced, customer, code, kind)
        return await self._store(uow, tenant, draft)

    async def customer(self, uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
        """Return the caller as Midtrans's ``customer_details``."""
        payer = await self._customer_of(uow, principal)
        return {"first_name": payer.name or payer.email.split("@")[0], "email": payer.email}

    async def create_renewal(
        self,
        uow: UnitOfWork,
        tenant: TenantContext,
        subscription: Subscription,
        plan: Plan,
        period: Period,
        extras: tuple[LineItem, ...],
    ) -> tuple[OrderView, dict[str, Any]]:
        """Store the renewal order of ``subscription`` (made by the sweep before the period
        ends), billed to its last payer, with ``extras`` (Enterprise overage), at the
        plan's price in force now."""
        plan = await self._prices.effective_plan(uow, plan)
        priced = quote(plan, period, self._rate, extras=extras)
        customer = dict(subscription.customer_details or {})
        draft = _Draft(
            ORDER_ID_PREFIX + new_id(),
            subscription.payer_user_id or "",
            plan,
            period,
            priced,
            customer,
            None,
            "renewal",
        )
        return await self._store(uow, tenant, draft)

    async def _store(
        self, uow: UnitOfWork, tenant: TenantContext, draft: _Draft
    ) -> tuple[OrderView, dict[str, Any]]:
        priced = draft.priced
        items = [item.to_midtrans() for item in priced.items]
        row = BillingOrder(
            order_id=draft.order_id,
            user_id=draft.user_id,
            plan=draft.plan.code,
            period=draft.period.value,
            status=OrderStatus.CREATED.value,
            subtotal_idr=priced.subtotal_idr,
            discount_idr=priced.discount_idr,
            tax_idr=priced.tax_idr,
            gross_amount_idr=priced.gross_amount_idr,
            tax_rate_percent=rate_text(priced.tax_rate_percent),
            item_details=items,
            customer_details=draft.customer,
            coupon_code=draft.coupon_code,
            kind=draft.kind,
            credit_idr=priced.credit_idr,
        )
        await OrderRepository(uow.session, tenant).add(row)
        view = order_view(row)
        payload = snap_payload(view, items, draft.customer)
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

    async def record_payment_link(
        self, uow: UnitOfWork, tenant: TenantContext, order_id: str, link: PaymentLink
    ) -> OrderView:
        """Store a Payment Link's URL as the order's payment page; it now awaits payment."""
        row = await self._locked(uow, tenant, order_id)
        row.redirect_url = link.payment_url
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
            await CouponRedemptionRepository(uow.session, tenant).forget(row.order_id)
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

    async def _redeem(
        self,
        uow: UnitOfWork,
        tenant: TenantContext,
        code: str,
        plan_code: str,
        price_idr: int,
        order_id: str,
    ) -> int:
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
        if not await CouponRedemptionRepository(uow.session, tenant).record(code, order_id):
            raise InvalidCouponError(
                f"expected a coupon this tenant has not used; it redeemed {code!r} before"
            )
        if not await coupons.redeem(code):
            raise InvalidCouponError(f"coupon {code!r} was used up by another order just now")
        return discount

    async def _locked(self, uow: UnitOfWork, tenant: TenantContext, order_id: str) -> BillingOrder:
        row = await OrderRepository(uow.session, tenant).by_order_id(order_id, lock=True)
        if row is None:
            raise OrderNotFoundError(f"expected a stored order; {order_id!r} is not one")
        return row


@dataclass(frozen=True, slots=True)
class _Draft:
    order_id: str
    user_id: str
    plan: Plan
    period: Period
    priced: Quote
    customer: dict[str, Any]
    coupon_code: str | None
    kind: str


def _kind_of(subscription: Subscription | None, plan: Plan) -> str:
    """Return ``new`` or ``upgrade`` for buying ``plan``; refuse a downgrade."""
    if subscription is None or subscription.status not in LIVE:
        return "new"
    current = plan_named(subscription.plan)
    if TIER_RANK[plan.tier] > TIER_RANK[current.tier]:
        return "upgrade"
    if TIER_RANK[plan.tier] < TIER_RANK[current.tier]:
        raise DowngradeAtPeriodEndError(
            f"expected a plan at or above {current.code!r} at checkout; received "
            f"{plan.code!r}: schedule a downgrade for the period end with "
            "POST /api/v1/billing/subscription/downgrade"
        )
    return "new"


def _paid_span(order: BillingOrder) -> PaidSpan | None:
    start, end = order.granted_period_start, order.granted_period_end
    if start is None or end is None:
        return None
    plan_line = f"{order.plan}-{order.period}"
    price = sum(int(i["price"]) for i in order.item_details if i.get("id") == plan_line)
    return PaidSpan(paid_idr=price - order.discount_idr, start=start, end=end)
