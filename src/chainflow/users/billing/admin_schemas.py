"""Wire models of the superadmin billing routes (``/api/v1/admin/billing``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chainflow.users.billing.schemas import SubscriptionOut

REASON = Field(min_length=3, max_length=500, description="why (kept in the audit trail)")


class TenantSubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant_id: str
    subscription: SubscriptionOut


class TenantSubscriptionsOut(BaseModel):
    items: list[TenantSubscriptionOut]


class MrrLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan: str
    period: str
    subscriptions: int
    list_price_idr: int = Field(
        description="the price in force now: the plan table's, or a superadmin's override"
    )
    monthly_idr: int = Field(description="subscriptions x that price per month (floored)")


class MrrOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    currency: Literal["IDR"] = "IDR"
    lines: list[MrrLineOut]
    mrr_idr: int = Field(description="active and past-due subscriptions, list prices per month")
    by_status: dict[str, int]
    manual_grants: int


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(min_length=1, max_length=32)
    tier: Literal["pro", "enterprise"]
    until: AwareDatetime | None = None
    reason: str = REASON


class RevokeGrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = REASON


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant_id: str
    tier: str
    until: datetime | None
    granted_by: str
    reason: str
    effective_tier: str


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_idr: int | None = Field(default=None, ge=1, description="default: the whole order")
    reason: str = REASON


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    order_id: str
    tenant_id: str
    amount_idr: int
    status: str


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    at: datetime
    actor_user_id: str
    action: str
    tenant_id: str
    order_id: str | None
    reason: str
    details: dict[str, Any]


class AuditOut(BaseModel):
    items: list[AuditEntryOut]


MAX_PLAN_PRICE_IDR = 1_000_000_000_000


class PlanPriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_idr: int = Field(ge=1, le=MAX_PLAN_PRICE_IDR, description="whole rupiah per period")
    effective_from: AwareDatetime | None = Field(
        default=None, description="when the price applies (at once when omitted)"
    )
    reason: str = REASON


class PlanPriceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan: str
    period: str
    code_price_idr: int = Field(description="the plan table's price")
    override_idr: int | None = Field(description="the database price, if one is set")
    effective_from: datetime | None
    effective_idr: int = Field(description="what a checkout costs now (before coupons, PPN)")
    set_by: str | None


class PlanPricesOut(BaseModel):
    items: list[PlanPriceOut]
