"""What an order costs: the plan line, a coupon's discount line, the PPN line, in rupiah.

Midtrans requires ``gross_amount`` to equal the sum of ``item_details`` price x quantity,
so the quote is built as those lines and the total is their sum, never computed apart.
PPN is charged on the price after the discount, the proration credit of an upgrade and any
overage lines, rounded half up to the rupiah.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chainflow.users.billing.errors import InvalidCouponError, InvalidCouponTermsError
from chainflow.users.billing.plans import Period, Plan

COUPON_KINDS = ("percent", "fixed")


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """A coupon as stored: ``value`` is a percentage (1..100) or whole rupiah off."""

    code: str
    kind: str
    value: int
    plans: tuple[str, ...]
    expires_at: datetime | None
    max_redemptions: int | None
    redemptions: int


@dataclass(frozen=True, slots=True)
class LineItem:
    """One ``item_details`` entry: ``price`` in rupiah (negative for a discount)."""

    id: str
    name: str
    price: int
    quantity: int = 1

    def to_midtrans(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price, "quantity": self.quantity}


@dataclass(frozen=True, slots=True)
class Quote:
    items: tuple[LineItem, ...]
    subtotal_idr: int
    discount_idr: int
    tax_rate_percent: Decimal
    tax_idr: int
    credit_idr: int = 0

    @property
    def gross_amount_idr(self) -> int:
        return sum(item.price * item.quantity for item in self.items)


def check_coupon_terms(
    kind: str, value: int, plans: tuple[str, ...], known: tuple[str, ...]
) -> None:
    """Raise ``InvalidCouponTermsError`` unless the terms describe a usable coupon."""
    problems: list[str] = []
    if kind not in COUPON_KINDS:
        problems.append(f"kind must be one of {', '.join(COUPON_KINDS)}; received {kind[:20]!r}")
    elif kind == "percent" and not 1 <= value <= 100:
        problems.append(f"a percent coupon's value must be 1..100; received {value}")
    elif kind == "fixed" and value < 1:
        problems.append(f"a fixed coupon's value must be at least 1 rupiah; received {value}")
    unknown = sorted(set(plans) - set(known))
    if unknown:
        problems.append(f"plans must be drawn from {', '.join(known)}; received {unknown}")
    if problems:
        raise InvalidCouponTermsError(
            "The coupon terms are invalid: " + "; ".join(problems), details=problems
        )


def coupon_discount(coupon: CouponTerms, plan: Plan, price_idr: int, now: datetime) -> int:
    """Return the rupiah ``coupon`` takes off ``price_idr``; raise ``InvalidCouponError``
    when it is expired, used up, not for ``plan``, or would make the order free."""
    if coupon.expires_at is not None and now >= coupon.expires_at:
        raise InvalidCouponError(
            f"coupon {coupon.code!r} expired at {coupon.expires_at.isoformat()}; "
            "expected an unexpired coupon"
        )
    if coupon.max_redemptions is not None and coupon.redemptions >= coupon.max_redemptions:
        raise InvalidCouponError(
            f"coupon {coupon.code!r} was redeemed {coupon.redemptions} of "
            f"{coupon.max_redemptions} times; none are left"
        )
    if coupon.plans and plan.code not in coupon.plans:
        raise InvalidCouponError(
            f"coupon {coupon.code!r} is for {', '.join(coupon.plans)}; received plan {plan.code!r}"
        )
    if coupon.kind == "percent":
        discount = price_idr * coupon.value // 100
    else:
        discount = min(coupon.value, price_idr)
    if discount >= price_idr:
        raise InvalidCouponError(
            f"coupon {coupon.code!r} covers the whole price of {plan.code!r}; Midtrans needs "
            "an amount of at least 1 rupiah"
        )
    return discount


def rate_text(rate_percent: Decimal) -> str:
    """Return a rate as plain text without trailing zeros (``Decimal("10.0")`` -> ``"10"``)."""
    return format(rate_percent.normalize(), "f")


def tax_of(taxable_idr: int, rate_percent: Decimal) -> int:
    """Return PPN on ``taxable_idr`` at ``rate_percent``, rounded half up to the rupiah."""
    tax = Decimal(taxable_idr) * rate_percent / Decimal(100)
    return int(tax.quantize(Decimal(1), rounding=ROUND_HALF_UP))


PRORATION_ITEM_ID = "proration"


def quote(
    plan: Plan,
    period: Period,
    rate_percent: Decimal,
    *,
    discount_idr: int = 0,
    coupon: str = "",
    credit_idr: int = 0,
    extras: tuple[LineItem, ...] = (),
) -> Quote:
    """Return the lines and totals of buying ``plan`` for ``period``: the plan, a coupon's
    discount, an upgrade's credit (a negative line), ``extras`` (overage) and PPN."""
    price = plan.price_idr(period)
    items = [
        LineItem(id=f"{plan.code}-{period.value}", name=f"{plan.name} ({period})", price=price)
    ]
    if discount_idr:
        items.append(LineItem(id="discount", name=f"Coupon {coupon}", price=-discount_idr))
    if credit_idr:
        name = "Credit for the unused part of the current plan"
        items.append(LineItem(id=PRORATION_ITEM_ID, name=name, price=-credit_idr))
    items.extend(extras)
    taxable = price - discount_idr - credit_idr + sum(e.price * e.quantity for e in extras)
    tax = tax_of(taxable, rate_percent)
    if tax:
        items.append(LineItem(id="ppn", name=f"PPN {rate_text(rate_percent)}%", price=tax))
    return Quote(
        items=tuple(items),
        subtotal_idr=price + sum(e.price * e.quantity for e in extras),
        discount_idr=discount_idr,
        tax_rate_percent=rate_percent,
        tax_idr=tax,
        credit_idr=credit_idr,
    )
