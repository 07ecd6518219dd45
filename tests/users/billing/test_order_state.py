"""The order state chain: Midtrans statuses map to states, and ``join`` is order-free."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from chainflow.users.billing.order_state import (
    CHAIN,
    OrderStatus,
    join,
    status_from_midtrans,
)

# Every (transaction_status, fraud_status) pair a notification may confirm.
NOTIFICATIONS: list[tuple[str, str | None]] = [
    ("capture", "accept"),
    ("capture", "challenge"),
    ("capture", "deny"),
    ("capture", None),
    ("settlement", None),
    ("pending", None),
    ("deny", None),
    ("cancel", None),
    ("expire", None),
    ("refund", None),
    ("partial_refund", None),
    ("mystery_status", None),
]


def final_state(start: OrderStatus, notifications: list[tuple[str, str | None]]) -> OrderStatus:
    state = start
    for transaction_status, fraud_status in notifications:
        observed = status_from_midtrans(transaction_status, fraud_status)
        if observed is not None:
            state = join(state, observed)
    return state


class TestStatusFromMidtrans:
    def test_capture_depends_on_the_fraud_status(self) -> None:
        assert status_from_midtrans("capture", "accept") is OrderStatus.PAID
        assert status_from_midtrans("capture", "challenge") is OrderStatus.CHALLENGE
        assert status_from_midtrans("capture", "deny") is OrderStatus.DENIED
        assert status_from_midtrans("capture", None) is OrderStatus.PAID

    def test_every_other_status_has_its_state(self) -> None:
        assert {
            name: status_from_midtrans(name, None)
            for name in (
                "settlement",
                "pending",
                "deny",
                "cancel",
                "expire",
                "refund",
                "partial_refund",
            )
        } == {
            "settlement": OrderStatus.PAID,
            "pending": OrderStatus.PENDING,
            "deny": OrderStatus.DENIED,
            "cancel": OrderStatus.CANCELED,
            "expire": OrderStatus.EXPIRED,
            "refund": OrderStatus.REFUNDED,
            "partial_refund": OrderStatus.PARTIALLY_REFUNDED,
        }

    def test_an_unknown_status_maps_to_nothing(self) -> None:
        assert status_from_midtrans("mystery_status", None) is None


class TestJoin:
    def test_a_late_pending_never_undoes_a_settlement(self) -> None:
        assert final_state(OrderStatus.PENDING, [("settlement", None), ("pending", None)]) is (
            OrderStatus.PAID
        )

    def test_refund_after_paid_is_allowed(self) -> None:
        assert join(OrderStatus.PAID, OrderStatus.REFUNDED) is OrderStatus.REFUNDED

    def test_cancel_of_a_captured_payment_wins(self) -> None:
        assert join(OrderStatus.PAID, OrderStatus.CANCELED) is OrderStatus.CANCELED

    def test_payment_beats_expiry_and_denial(self) -> None:
        assert join(OrderStatus.EXPIRED, OrderStatus.PAID) is OrderStatus.PAID
        assert join(OrderStatus.DENIED, OrderStatus.PAID) is OrderStatus.PAID

    def test_the_chain_is_total_and_ordered_as_documented(self) -> None:
        assert [s.value for s in CHAIN] == [
            "created",
            "failed",
            "pending",
            "challenge",
            "expired",
            "denied",
            "paid",
            "canceled",
            "partially_refunded",
            "refunded",
        ]

    @given(
        st.sampled_from(list(OrderStatus)),
        st.sampled_from(list(OrderStatus)),
        st.sampled_from(list(OrderStatus)),
    )
    def test_join_is_commutative_associative_and_idempotent(
        self, a: OrderStatus, b: OrderStatus, c: OrderStatus
    ) -> None:
        assert join(a, b) is join(b, a)
        assert join(join(a, b), c) is join(a, join(b, c))
        assert join(a, a) is a

    @given(
        st.lists(st.sampled_from(NOTIFICATIONS), max_size=30),
        st.randoms(use_true_random=False),
        st.sampled_from([OrderStatus.CREATED, OrderStatus.PENDING]),
    )
    def test_final_state_depends_only_on_the_set_of_distinct_notifications(
        self,
        sequence: list[tuple[str, str | None]],
        shuffler: object,
        start: OrderStatus,
    ) -> None:
        reordered = list(sequence) + list(sequence[: len(sequence) // 2])  # repeats
        shuffler.shuffle(reordered)  # type: ignore[attr-defined]
        distinct = sorted(set(sequence), key=lambda n: (n[0], n[1] or ""))
        assert final_state(start, reordered) is final_state(start, distinct)
        assert final_state(start, sequence) is reduce(
            join,
            [s for n in distinct if (s := status_from_midtrans(*n)) is not None],
            start,
        )
