"""The states of an order and the one rule that moves them: a join on a chain.

Midtrans retries notifications and may deliver them out of order, so an order never steps
back: each confirmed status maps to a state, and the order takes the higher of its state
and that one (``join``). ``join`` is the maximum on this chain, from low to high::

    created < failed < pending < challenge < expired < denied
            < paid < canceled < partially_refunded < refunded

Being a maximum it is commutative, associative and idempotent, so the final state depends
only on the set of statuses seen, never on their order or repetition. Why this order:

- ``created``/``failed`` are ours (before Snap answered / Snap failed): any Midtrans status
  beats them, since a Snap call that timed out may still have made the transaction;
- ``pending`` and ``challenge`` (card fraud review) are waiting states: every outcome beats
  them, so a late ``pending`` never undoes a ``settlement``;
- ``expired`` and ``denied`` happen only before money moves, so ``paid`` beats them;
- ``canceled`` beats ``paid``: Midtrans cancels a captured card payment before settlement,
  which releases the money (a settled payment is refunded instead, never canceled);
- refunds come only after payment, a full refund after any partial one.

``paid``-like states (``paid``, ``partially_refunded``) grant the plan; moving from one of
them to ``canceled`` or ``refunded`` takes the grant back (``subscriptions``).
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "created"
    FAILED = "failed"
    PENDING = "pending"
    CHALLENGE = "challenge"
    EXPIRED = "expired"
    DENIED = "denied"
    PAID = "paid"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


CHAIN: tuple[OrderStatus, ...] = tuple(OrderStatus)
RANK: dict[OrderStatus, int] = {status: rank for rank, status in enumerate(CHAIN)}
GRANTING: frozenset[OrderStatus] = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED})
REVOKING: frozenset[OrderStatus] = frozenset({OrderStatus.CANCELED, OrderStatus.REFUNDED})

# Midtrans ``transaction_status`` values other than ``capture`` (which needs fraud_status).
_BY_TRANSACTION_STATUS: dict[str, OrderStatus] = {
    "settlement": OrderStatus.PAID,
    "pending": OrderStatus.PENDING,
    "authorize": OrderStatus.PENDING,
    "deny": OrderStatus.DENIED,
    "failure": OrderStatus.DENIED,
    "cancel": OrderStatus.CANCELED,
    "expire": OrderStatus.EXPIRED,
    "refund": OrderStatus.REFUNDED,
    "chargeback": OrderStatus.REFUNDED,
    "partial_refund": OrderStatus.PARTIALLY_REFUNDED,
    "partial_chargeback": OrderStatus.PARTIALLY_REFUNDED,
}
_BY_FRAUD_STATUS: dict[str, OrderStatus] = {
    "accept": OrderStatus.PAID,
    "challenge": OrderStatus.CHALLENGE,
    "deny": OrderStatus.DENIED,
}


def status_from_midtrans(transaction_status: str, fraud_status: str | None) -> OrderStatus | None:
    """Return the order state a Midtrans status means, or ``None`` for an unknown one.

    ``capture`` is a card payment whose meaning depends on ``fraud_status``: ``accept`` is
    paid, ``challenge`` awaits review, ``deny`` is denied (a missing one counts as accept,
    as Midtrans omits it when fraud detection is off).
    """
    if transaction_status == "capture":
        return _BY_FRAUD_STATUS.get(fraud_status or "accept")
    return _BY_TRANSACTION_STATUS.get(transaction_status)


def join(current: OrderStatus, observed: OrderStatus) -> OrderStatus:
    """Return the state an order in ``current`` moves to when ``observed`` is confirmed."""
    return current if RANK[current] >= RANK[observed] else observed


def is_granting(status: OrderStatus) -> bool:
    """Return whether an order in ``status`` gives the tenant its plan."""
    return status in GRANTING
