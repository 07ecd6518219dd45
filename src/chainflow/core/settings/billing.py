"""Settings of billing (``CHAINFLOW_BILLING_*``): Midtrans keys and URLs, tax, grace period,
trials, renewal lead time and Enterprise overage."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from chainflow.core.settings.areas import area

__all__ = ["BillingSettings"]


class BillingSettings(BaseSettings):
    """Billing through Midtrans: Snap checkout, Core API status checks, invoices, expiry.

    The server key signs every Midtrans call and verifies every notification; it is a
    secret and never logged. Without it checkout and notifications answer
    ``billing_not_configured`` (503). The URLs default to the Midtrans sandbox.
    """

    model_config = area("CHAINFLOW_BILLING_")

    server_key: SecretStr = Field(
        default=SecretStr(""), description="Midtrans server key; '' disables billing"
    )
    client_key: str = Field(default="", description="Midtrans client key (for Snap.js)")
    snap_url: str = Field(
        default="https://app.sandbox.midtrans.com/snap/v1",
        description="Snap API base; production: https://app.midtrans.com/snap/v1",
    )
    core_api_url: str = Field(
        default="https://api.sandbox.midtrans.com/v2",
        description="Core API base; production: https://api.midtrans.com/v2",
    )
    finish_url: str = Field(
        default="", description="where Snap sends the payer back after paying; '' = Snap's own"
    )
    ppn_rate_percent: Decimal = Field(
        default=Decimal("11"), ge=0, le=100, description="PPN (VAT) added to each invoice, %"
    )
    grace_period_days: int = Field(
        default=3, ge=0, le=90, description="days past the period end before a downgrade"
    )
    idr_per_usd: int = Field(
        default=16_000, gt=0, description="rupiah per US dollar, for USD shown on the plan list"
    )
    request_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Midtrans timeout")
    sweep_interval_s: float = Field(
        default=3600.0, ge=0, description="how often expired subscriptions are swept; 0 = never"
    )
    trial_days: dict[str, int] = Field(
        default_factory=dict,
        description='trial length per plan, e.g. {"pro": 14}; a plan not named has no trial',
    )
    renewal_lead_days: int = Field(
        default=7, ge=0, le=60, description="days before the period end a renewal order is made"
    )
    enterprise_included_ticks: int = Field(
        default=100_000_000, ge=0, description="ticks per period included in Enterprise"
    )
    enterprise_overage_idr_per_million_ticks: int = Field(
        default=25_000, ge=0, description="rupiah per million ticks above the included amount"
    )
    enterprise_included_api_calls: int = Field(
        default=10_000_000, ge=0, description="authenticated API calls per period in Enterprise"
    )
    enterprise_overage_idr_per_million_api_calls: int = Field(
        default=50_000, ge=0, description="rupiah per million API calls above the included amount"
    )
    payment_links_url: str = Field(
        default="https://api.sandbox.midtrans.com/v1/payment-links",
        description="Payment Link API; production: https://api.midtrans.com/v1/payment-links",
    )
    renewal_payment: Literal["payment_link", "snap"] = Field(
        default="payment_link",
        description="how renewal orders are paid: a Midtrans Payment Link or a Snap page",
    )
    invoice_seller: str = Field(
        default="ChainFlow", max_length=300, description="the seller printed on invoices"
    )
