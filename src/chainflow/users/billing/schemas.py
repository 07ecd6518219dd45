"""Billing's wire models (Pydantic): what the routes take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class PlanPrice(BaseModel):
    idr: int
    usd_display: str = Field(description="USD at the display rate, for information only")


class PlanOut(BaseModel):
    plan: str
    name: str
    tier: str
    prices: dict[str, PlanPrice]


class PlansOut(BaseModel):
    currency: Literal["IDR"] = "IDR"
    ppn_rate_percent: str
    items: list[PlanOut]


class CheckoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(max_length=32)
    period: str = Field(max_length=16)
    coupon: str | None = Field(default=None, max_length=32)


class CheckoutOut(BaseModel):
    order_id: str
    token: str
    redirect_url: str
    gross_amount_idr: int


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    redirect_url: str | None
    midtrans_status: str | None
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None
    kind: str = Field(description="new, upgrade (with a proration credit) or renewal")
    credit_idr: int
    midtrans_order_id: str | None = Field(
        default=None,
        description="the paying Midtrans transaction, when not order_id: a Payment Link "
        "purchase or a card subscription's charge",
    )


class OrdersOut(BaseModel):
    items: list[OrderOut]


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan: str
    period: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    grace_until: datetime | None
    cancel_at_period_end: bool
    trial_used: bool
    scheduled_plan: str | None = Field(description="the plan from scheduled_at (a downgrade)")
    scheduled_period: str | None
    scheduled_at: datetime | None
    renewal_order_id: str | None = Field(description="the renewal order awaiting payment")
    auto_renew: bool = Field(
        default=False, description="renewals are charged to the saved card (PUT .../auto-renew)"
    )
    card_saved: bool = Field(
        default=False, description="a card payment saved a card (its Midtrans token only)"
    )
    card_subscription_active: bool = Field(
        default=False, description="a Midtrans subscription charges the card each period"
    )


class AutoRenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class TrialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(max_length=32)


class DowngradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(max_length=32)
    period: str = Field(max_length=16)


class UsageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan: str
    period_start: datetime
    period_end: datetime
    ticks: int
    messages: int
    backtests: int
    model_trainings: int
    api_calls: int | None = Field(
        description="authenticated API calls (flushed every 10 s; null without metering)"
    )
    included_ticks: int | None = Field(description="Enterprise only")
    overage_ticks: int
    included_api_calls: int | None = Field(description="Enterprise only")
    overage_api_calls: int
    overage_idr: int = Field(
        description="the overage price (ticks and API calls) so far, billed on the next renewal"
    )


class InvoiceLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    description: str
    quantity: int
    unit_price_idr: int
    amount_idr: int


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: int
    invoice_number: str
    order_id: str
    plan: str
    period: str
    currency: str
    lines: list[InvoiceLineOut]
    subtotal_idr: int
    discount_idr: int
    credit_idr: int
    tax_rate_percent: str
    tax_idr: int
    total_idr: int
    customer_name: str
    customer_email: str
    issued_at: datetime
    period_start: datetime | None
    period_end: datetime | None


class InvoicesOut(BaseModel):
    items: list[InvoiceOut]


class NotificationAck(BaseModel):
    order_id: str
    status: str
    changed: bool


MAX_COUPON_VALUE_IDR = 1_000_000_000
"""A fixed discount above any plan's price is refused as input, not at the database."""
MAX_REDEMPTIONS = 10_000_000


class CouponCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["percent", "fixed"]
    value: int = Field(ge=1, le=MAX_COUPON_VALUE_IDR, description="percent (1-100) or rupiah")
    plans: list[str] = Field(default_factory=list, max_length=10)
    expires_at: AwareDatetime | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=MAX_REDEMPTIONS)


class CouponOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    kind: str
    value: int
    plans: list[str]
    expires_at: datetime | None
    max_redemptions: int | None
    redemptions: int


class SweepOut(BaseModel):
    visited: int
    changed: dict[str, str]
    renewals: dict[str, str] = Field(description="tenant id -> the renewal order made")
