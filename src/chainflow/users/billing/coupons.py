"""Coupons, created by superadmins: a percentage or fixed rupiah off, for some or all plans,
with an optional expiry and maximum number of redemptions (counted at checkout)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.models import Coupon
from chainflow.users.billing.plans import PLANS
from chainflow.users.billing.pricing import check_coupon_terms
from chainflow.users.billing.repository import CouponRepository


@dataclass(frozen=True, slots=True)
class CouponView:
    code: str
    kind: str
    value: int
    plans: tuple[str, ...]
    expires_at: datetime | None
    max_redemptions: int | None
    redemptions: int


@dataclass(frozen=True, slots=True)
class CouponCreate:
    code: str
    kind: str
    value: int
    plans: tuple[str, ...] = ()
    expires_at: datetime | None = None
    max_redemptions: int | None = None


def coupon_view(row: Coupon) -> CouponView:
    return CouponView(
        code=row.code,
        kind=row.kind,
        value=row.value,
        plans=tuple(row.plans),
        expires_at=row.expires_at,
        max_redemptions=row.max_redemptions,
        redemptions=row.redemptions,
    )


class CouponService:
    """Create coupons. Never commits."""

    async def create(self, uow: UnitOfWork, terms: CouponCreate) -> CouponView:
        """Store a coupon; its code is kept upper-case and must be new."""
        paid = tuple(code for code, plan in PLANS.items() if plan.is_paid)
        check_coupon_terms(terms.kind, terms.value, terms.plans, paid)
        row = Coupon(
            code=terms.code.strip().upper(),
            kind=terms.kind,
            value=terms.value,
            plans=sorted(set(terms.plans)),
            expires_at=terms.expires_at,
            max_redemptions=terms.max_redemptions,
            redemptions=0,
        )
        await CouponRepository(uow.session).add_coupon(row)
        return coupon_view(row)
