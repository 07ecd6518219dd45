"""Billing tables: orders, subscriptions, invoices with their per-tenant counter, coupons,
coupon redemptions, manual tier grants, the admin audit trail and plan price overrides.

Orders, subscriptions, invoices, invoice counters, redemptions and grants are tenant-owned
(queried only through ``billing.repository`` and guarded by PostgreSQL RLS, migrations
``0011_billing``, ``0014_billing_lifecycle``, ``0019_billing_card_subscriptions``);
coupons, the audit trail and the plan price overrides (``0016_plan_price_overrides``) are
platform-wide. Every amount is a whole number of rupiah.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin
from chainflow.storage.relational.base import ID_LENGTH

ORDER_ID_LENGTH = 50  # Midtrans's limit
CODE_LENGTH = 32
STATUS_LENGTH = 24
MIDTRANS_ID_LENGTH = 100  # ids Midtrans makes: purchase and charge order ids, saved tokens
SUBSCRIPTION_NAME_LENGTH = 40  # Midtrans's limit on a subscription's name


class BillingOrder(Base, IdMixin, TimestampMixin, TenantOwned):
    """One purchase of a plan for a period; its ``status`` only moves up (``order_state``)."""

    __tablename__ = "billing_orders"

    order_id: Mapped[str] = mapped_column(String(ORDER_ID_LENGTH), nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    plan: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), nullable=False, index=True)
    subtotal_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    gross_amount_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_rate_percent: Mapped[str] = mapped_column(String(16), nullable=False)
    item_details: Mapped[list[Any]] = mapped_column(nullable=False)
    customer_details: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    coupon_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH), nullable=True)
    snap_token: Mapped[str | None] = mapped_column(String(200), nullable=True)
    redirect_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    midtrans_status: Mapped[str | None] = mapped_column(String(STATUS_LENGTH), nullable=True)
    fraud_status: Mapped[str | None] = mapped_column(String(STATUS_LENGTH), nullable=True)
    payment_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the order's period was added to the subscription, and when it was taken back.
    granted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    granted_period_start: Mapped[datetime | None] = mapped_column(nullable=True)
    granted_period_end: Mapped[datetime | None] = mapped_column(nullable=True)
    # ``new`` (checkout), ``upgrade`` (checkout to a higher tier, with a proration credit)
    # or ``renewal`` (made by the sweep before the period ends).
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    credit_idr: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # The order whose invoice billed the Enterprise overage of this order's period.
    overage_billed_by: Mapped[str | None] = mapped_column(String(ORDER_ID_LENGTH), nullable=True)
    # The id Midtrans knows the paying transaction by, when it is not ``order_id``: a Payment
    # Link purchase (``<order_id>-<suffix>``) or a card subscription's charge. Refunds and
    # status checks use it (``card_subscriptions``, ``payment_links``).
    midtrans_order_id: Mapped[str | None] = mapped_column(
        String(MIDTRANS_ID_LENGTH), nullable=True, unique=True
    )


class Subscription(Base, IdMixin, TimestampMixin, TenantOwned):
    """The tenant's plan (one row per tenant): ``trialing`` (free until the trial ends),
    ``active``, ``past_due`` (in grace), ``canceled`` (runs to its period end, then expires)
    or ``expired``. A downgrade waits in ``scheduled_*`` until ``scheduled_at``."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    plan: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), nullable=False, index=True)
    current_period_start: Mapped[datetime] = mapped_column(nullable=False)
    current_period_end: Mapped[datetime] = mapped_column(nullable=False, index=True)
    grace_until: Mapped[datetime | None] = mapped_column(nullable=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_order_id: Mapped[str | None] = mapped_column(String(ORDER_ID_LENGTH), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    trial_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    scheduled_plan: Mapped[str | None] = mapped_column(String(CODE_LENGTH), nullable=True)
    scheduled_period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The period end whose renewal order or expiry reminder was made (once per period end).
    reminded_for_end: Mapped[datetime | None] = mapped_column(nullable=True)
    renewal_order_id: Mapped[str | None] = mapped_column(String(ORDER_ID_LENGTH), nullable=True)
    # Who pays, for the renewal orders the sweep makes (set by the last order or the trial).
    payer_user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    customer_details: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # Card renewals (``card_subscriptions``): the Midtrans ``saved_token_id`` of the last
    # card payment (never a card number), the tenant's opt-in, and the Midtrans
    # subscription that charges the card, with the plan, period and amount it charges.
    card_token_id: Mapped[str | None] = mapped_column(String(MIDTRANS_ID_LENGTH), nullable=True)
    auto_renew: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    card_subscription_id: Mapped[str | None] = mapped_column(
        String(MIDTRANS_ID_LENGTH), nullable=True
    )
    card_subscription_name: Mapped[str | None] = mapped_column(
        String(SUBSCRIPTION_NAME_LENGTH), nullable=True, index=True
    )
    card_subscription_plan: Mapped[str | None] = mapped_column(String(CODE_LENGTH), nullable=True)
    card_subscription_period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    card_subscription_amount_idr: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class InvoiceCounter(Base, IdMixin, TenantOwned):
    """The last invoice number of a tenant; bumped in the transaction that issues one."""

    __tablename__ = "billing_invoice_counters"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class Invoice(Base, IdMixin, TimestampMixin, TenantOwned):
    """A paid order's invoice, numbered per tenant without gaps (1, 2, 3, ...)."""

    __tablename__ = "billing_invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "number"), UniqueConstraint("order_id"))

    number: Mapped[int] = mapped_column(Integer, nullable=False)
    invoice_number: Mapped[str] = mapped_column(String(64), nullable=False)
    order_id: Mapped[str] = mapped_column(String(ORDER_ID_LENGTH), nullable=False)
    plan: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    lines: Mapped[list[Any]] = mapped_column(nullable=False)
    subtotal_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_idr: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_rate_percent: Mapped[str] = mapped_column(String(16), nullable=False)
    tax_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    customer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_email: Mapped[str] = mapped_column(String(320), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(nullable=False)
    period_start: Mapped[datetime | None] = mapped_column(nullable=True)
    period_end: Mapped[datetime | None] = mapped_column(nullable=True)


class Coupon(Base, IdMixin, TimestampMixin):
    """A platform-wide discount code: a percentage or a fixed rupiah amount off the plan."""

    __tablename__ = "billing_coupons"

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "percent" | "fixed"
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    plans: Mapped[list[Any]] = mapped_column(nullable=False)  # [] = every paid plan
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    max_redemptions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redemptions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CouponRedemption(Base, IdMixin, TimestampMixin, TenantOwned):
    """A tenant's use of a coupon: at most one per (tenant, coupon)."""

    __tablename__ = "billing_coupon_redemptions"
    __table_args__ = (UniqueConstraint("tenant_id", "coupon_code"),)

    coupon_code: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False)
    order_id: Mapped[str] = mapped_column(String(ORDER_ID_LENGTH), nullable=False)


class TierGrant(Base, IdMixin, TimestampMixin, TenantOwned):
    """A superadmin's manual tier for a tenant (one per tenant), until ``until`` or revoked.

    The tier billing applies is the higher of this and the live subscription's, so the
    expiry sweep never takes a granted tier away.
    """

    __tablename__ = "billing_tier_grants"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    until: Mapped[datetime | None] = mapped_column(nullable=True, index=True)


class BillingAudit(Base, IdMixin, TimestampMixin):
    """Who did what to whose billing, when and why (manual grants, revocations, refunds)."""

    __tablename__ = "billing_audit"

    at: Mapped[datetime] = mapped_column(nullable=False, index=True)
    actor_user_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False, index=True)
    order_id: Mapped[str | None] = mapped_column(String(ORDER_ID_LENGTH), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class PlanPriceOverride(Base, IdMixin, TimestampMixin):
    """A superadmin's price for one plan and period, replacing the code's (``plans.PLANS``)
    from ``effective_from`` (at once when None); at most one per plan and period."""

    __tablename__ = "billing_plan_prices"
    __table_args__ = (UniqueConstraint("plan", "period"),)

    plan: Mapped[str] = mapped_column(String(CODE_LENGTH), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    price_idr: Mapped[int] = mapped_column(BigInteger, nullable=False)
    effective_from: Mapped[datetime | None] = mapped_column(nullable=True)
    set_by: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
