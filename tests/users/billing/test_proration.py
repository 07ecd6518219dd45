"""Proration arithmetic: the unused part of what was paid, in whole rupiah."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chainflow.users.billing.plans import PLANS, Period
from chainflow.users.billing.pricing import quote
from chainflow.users.billing.proration import PaidSpan, unused_value, upgrade_credit

START = datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)
END = datetime(2025, 7, 15, 15, 6, 40, tzinfo=UTC)  # 30 days


class TestUnusedValue:
    def test_two_thirds_left_is_floored_to_the_rupiah(self) -> None:
        span = PaidSpan(299_000, START, END)
        # 299,000 x 20/30 = 199,333.33...
        assert unused_value(span, START + timedelta(days=10)) == 199_333

    def test_before_the_start_everything_and_after_the_end_nothing_is_left(self) -> None:
        span = PaidSpan(299_000, START, END)
        assert unused_value(span, START - timedelta(days=3)) == 299_000
        assert unused_value(span, END) == 0
        assert unused_value(span, END + timedelta(seconds=1)) == 0

    def test_a_renewal_paid_ahead_counts_in_full(self) -> None:
        current = PaidSpan(299_000, START, END)
        ahead = PaidSpan(299_000, END, END + timedelta(days=31))
        now = START + timedelta(days=10)
        assert upgrade_credit([current, ahead], now, 2_499_000) == 199_333 + 299_000

    def test_the_credit_leaves_at_least_one_rupiah_to_pay(self) -> None:
        yearly = PaidSpan(2_990_000, START, START + timedelta(days=365))
        assert upgrade_credit([yearly], START, 2_499_000) == 2_498_999


class TestUpgradeQuote:
    def test_credit_is_a_negative_line_and_ppn_is_on_the_rest(self) -> None:
        priced = quote(PLANS["enterprise"], Period.MONTHLY, Decimal("11"), credit_idr=199_333)
        lines = [(item.id, item.price) for item in priced.items]
        # 2,499,000 - 199,333 = 2,299,667; PPN 11% = 252,963.37 -> 252,963
        assert lines == [
            ("enterprise-monthly", 2_499_000),
            ("proration", -199_333),
            ("ppn", 252_963),
        ]
        assert priced.gross_amount_idr == 2_552_630 == sum(price for _, price in lines)
        assert priced.credit_idr == 199_333
