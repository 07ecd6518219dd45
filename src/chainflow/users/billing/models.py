"""Billing tables: orders, subscriptions, invoices with their per-tenant counter, coupons.

Orders, subscriptions, invoices and invoice counters are tenant-owned (queried only through
``billing.repository`` and guarded by PostgreSQL RLS, migration ``0011_billing``); coupons
are platform-wide. Every amount is a whole number of rupiah.
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


class Subscription(Base, IdMixin, TimestampMixin, TenantOwned):
    """The tenant's paid plan (one row per tenant): ``active``, ``past_due`` (in grace),
    ``canceled`` (runs to its period end, then expires) or ``expired``."""

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
