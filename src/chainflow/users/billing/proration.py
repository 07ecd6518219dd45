"""Proration of an upgrade: the unused part of what the tenant paid, as a credit in rupiah.

An order pays ``paid_idr`` (the plan price less its coupon, before PPN) for the time from
``start`` to ``end``. At ``now`` the unused part is ``paid_idr x remaining / total``, with
both durations in whole seconds and the product floored to the rupiah, so the credit is an
integer and never more than was paid. An upgrade's credit is the sum over every paid order
of the current plan whose time is not used up (a renewal paid ahead counts in full).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PaidSpan:
    """What an order paid, before PPN, and the span of time it paid for."""

    paid_idr: int
    start: datetime
    end: datetime


def unused_value(span: PaidSpan, now: datetime) -> int:
    """Return the rupiah of ``span`` not yet used at ``now`` (floored)."""
    total_s = int((span.end - span.start).total_seconds())
    remaining_s = int((span.end - max(now, span.start)).total_seconds())
    if total_s <= 0 or remaining_s <= 0 or span.paid_idr <= 0:
        return 0
    return span.paid_idr * min(remaining_s, total_s) // total_s


def upgrade_credit(spans: Iterable[PaidSpan], now: datetime, new_price_idr: int) -> int:
    """Return the credit an upgrade priced ``new_price_idr`` (after any coupon) gets.

    Capped at one rupiah below the new price, since Midtrans needs an amount of at least
    one rupiah; the part above the cap is not carried over.
    """
    credit = sum(unused_value(span, now) for span in spans)
    return max(0, min(credit, new_price_idr - 1))
