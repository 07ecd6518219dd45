"""Midtrans payment notifications: verify the signature, then act on the confirmed status.

A notification proves nothing by itself until its ``signature_key`` matches
``sha512(order_id + status_code + gross_amount + server_key)``. Even then its body is not
trusted: the order moves on the status the Core API confirms (``MidtransClient
.transaction_status``), and only if the confirmed amount is the order's. The order row is
locked and moved with ``order_state.join`` in one transaction, so retries, duplicates and
out-of-order deliveries end in the same state, and a repeated one changes nothing.

A notification names the Midtrans transaction, which pays one of our orders: a Snap
payment has the order's own id, a Payment Link purchase its link's id with a suffix
(``payment_links``), a card subscription's charge an id carrying the subscription's name
(``card_subscriptions``). The first such id seen is stored on the order
(``midtrans_order_id``) and refunds use it; another transaction may take its place only
while the order is unpaid (a charge retried after a denied one).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.card_subscriptions import (
    CARD_PAYMENT,
    CardSubscriptionService,
    subscription_name_in,
)
from chainflow.users.billing.errors import (
    BillingNotConfiguredError,
    InvalidNotificationError,
    InvalidSignatureError,
    OrderNotFoundError,
    PaymentMismatchError,
)
from chainflow.users.billing.events import (
    OrderStatusChanged,
    PaymentFailed,
    PaymentNotificationRejected,
    order_status_changed_topic,
    payment_failed_topic,
    payment_notification_rejected_topic,
)
from chainflow.users.billing.invoices import InvoiceService
from chainflow.users.billing.midtrans import ConfirmedStatus
from chainflow.users.billing.models import BillingOrder
from chainflow.users.billing.order_state import (
    REVOKING,
    OrderStatus,
    is_granting,
    join,
    status_from_midtrans,
)
from chainflow.users.billing.payment_links import stored_order_id
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import BillingLookup, OrderRepository
from chainflow.users.billing.signature import is_valid_signature
from chainflow.users.billing.subscriptions import SubscriptionService
from chainflow.users.billing.usage import billed_period_order_ids
from chainflow.users.events import publish_after_commit, publish_now

_SIGNED_FIELDS = ("order_id", "status_code", "gross_amount", "signature_key")
FAILING = frozenset({OrderStatus.DENIED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class SignedNotification:
    order_id: str
    status_code: str
    gross_amount: str
    transaction_status: str
    saved_token_id: str | None = None  # a card Midtrans saved (card payments only)


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    order_id: str
    previous_status: str
    status: str

    @property
    def changed(self) -> bool:
        return self.previous_status != self.status


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _bind(order: BillingOrder, transaction_id: str) -> bool:
    """Record that the transaction ``transaction_id`` pays ``order``; False when another
    transaction paid it already (this one then changes nothing)."""
    if transaction_id in (order.order_id, order.midtrans_order_id):
        return True
    if order.midtrans_order_id is None or order.granted_at is None:
        order.midtrans_order_id = transaction_id
        return True
    return False


def _amount_matches(confirmed: str, stored_idr: int) -> bool:
    try:
        return Decimal(confirmed) == Decimal(stored_idr)
    except InvalidOperation:
        return False


class NotificationService:
    """Verify notifications and apply confirmed statuses. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        server_key: str,
        subscriptions: SubscriptionService,
        invoices: InvoiceService,
        cards: CardSubscriptionService,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._server_key = server_key
        self._subscriptions = subscriptions
        self._invoices = invoices
        self._cards = cards

    async def verify(self, body: Any, ip: str | None) -> SignedNotification:
        """Return the notification if Midtrans signed it; otherwise publish a security event
        and raise ``InvalidSignatureError`` (nothing is read or changed)."""
        if not self._server_key:
            raise BillingNotConfiguredError(
                "verifying Midtrans notifications needs the server key "
                "(CHAINFLOW_BILLING_SERVER_KEY); none is set"
            )
        if not isinstance(body, dict) or not all(
            isinstance(body.get(name), str) and body.get(name) for name in _SIGNED_FIELDS
        ):
            raise InvalidNotificationError(
                f"expected a JSON object with the text fields {', '.join(_SIGNED_FIELDS)}; "
                "received something else"
            )
        notification = SignedNotification(
            order_id=body["order_id"][:64],
            status_code=body["status_code"][:8],
            gross_amount=body["gross_amount"][:32],
            transaction_status=str(body.get("transaction_status", ""))[:32],
            saved_token_id=_text(body.get("saved_token_id"), 100),
        )
        if not is_valid_signature(
            order_id=body["order_id"],
            status_code=body["status_code"],
            gross_amount=body["gross_amount"],
            signature_key=body["signature_key"],
            server_key=self._server_key,
        ):
            await self._reject(notification, "invalid_signature", ip)
            raise InvalidSignatureError(
                "expected a notification signed with the merchant's server key; its "
                "signature_key does not match"
            )
        return notification

    async def tenant_of(self, uow: UnitOfWork, order_id: str) -> str:
        """Return the tenant of the order the transaction ``order_id`` pays (a
        ``system=True`` unit of work): an order's own id, a Payment Link purchase's id (its
        link's order), a transaction bound to an order before, or a card subscription's
        charge (the tenant of the subscription named in it)."""
        lookup = BillingLookup(uow.session)
        tenant_id = await lookup.tenant_of_order(stored_order_id(order_id))
        if tenant_id is None:
            tenant_id = await lookup.tenant_of_transaction(order_id)
        name = subscription_name_in(order_id)
        if tenant_id is None and name is not None:
            tenant_id = await lookup.tenant_of_card_subscription(name)
        if tenant_id is None:
            raise OrderNotFoundError(f"expected the id of a stored order; received {order_id!r}")
        return tenant_id

    async def apply(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        notification: SignedNotification,
        confirmed: ConfirmedStatus,
        ip: str | None,
    ) -> NotificationOutcome:
        """Move the order to the join of its state and the confirmed one, with the effects
        of that move: the plan granted on payment, taken back on cancel or full refund, an
        invoice per paid order. A repeat, or a status below the order's, changes nothing."""
        tenant = tenant_context_for(tenant_id)
        order = await self._order_paid_by(uow, tenant, notification.order_id)
        if order is None:
            raise OrderNotFoundError(f"expected a stored order; {notification.order_id!r} is not")
        if confirmed.order_id != notification.order_id or not _amount_matches(
            confirmed.gross_amount, order.gross_amount_idr
        ):
            await self._reject(notification, "payment_mismatch", ip)
            raise PaymentMismatchError(
                f"expected Midtrans to confirm order {order.order_id!r} for "
                f"{order.gross_amount_idr} rupiah; it confirmed {confirmed.order_id!r} for "
                f"{confirmed.gross_amount!r}"
            )
        previous = OrderStatus(order.status)
        observed = status_from_midtrans(confirmed.transaction_status, confirmed.fraud_status)
        if not _bind(order, notification.order_id):
            if observed is not None and is_granting(observed):
                # Money moved that no order accounts for: a superadmin must look at it.
                await self._reject(notification, "paid_by_another_transaction", ip)
            return NotificationOutcome(order.order_id, previous.value, previous.value)
        status = previous if observed is None else join(previous, observed)
        if status == previous:
            return NotificationOutcome(order.order_id, previous.value, previous.value)
        order.status = status.value
        order.midtrans_status = confirmed.transaction_status
        order.fraud_status = confirmed.fraud_status
        order.payment_type = confirmed.payment_type
        order.transaction_id = confirmed.transaction_id
        if is_granting(status) and order.granted_at is None and order.revoked_at is None:
            order.paid_at = self._clock.now()
            await self._subscriptions.grant(uow, order)
            await self._mark_overage_billed(uow, tenant_id, order)
            await self._invoices.issue(uow, order)
            token = confirmed.saved_token_id or notification.saved_token_id
            if confirmed.payment_type == CARD_PAYMENT and token:
                await self._cards.remember_card(uow, tenant, token)
        if status in REVOKING and order.granted_at is not None and order.revoked_at is None:
            await self._subscriptions.revoke(uow, order)
        event = OrderStatusChanged(
            tenant_id=tenant_id,
            order_id=order.order_id,
            plan=order.plan,
            period=order.period,
            previous_status=previous.value,
            status=status.value,
            gross_amount_idr=order.gross_amount_idr,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, order_status_changed_topic(), event)
        if status in FAILING:
            failed = PaymentFailed(
                tenant_id=tenant_id,
                order_id=order.order_id,
                plan=order.plan,
                period=order.period,
                kind=order.kind,
                status=status.value,
                gross_amount_idr=order.gross_amount_idr,
                ts_event_ms=self._clock.now_ms(),
            )
            publish_after_commit(uow, self._bus, payment_failed_topic(), failed)
        return NotificationOutcome(order.order_id, previous.value, status.value)

    async def _order_paid_by(
        self, uow: UnitOfWork, tenant: TenantContext, transaction_id: str
    ) -> BillingOrder | None:
        """Return (locked) the tenant's order the Midtrans transaction pays, or None."""
        repository = OrderRepository(uow.session, tenant)
        order = await repository.by_order_id(stored_order_id(transaction_id), lock=True)
        if order is None:
            order = await repository.by_midtrans_order_id(transaction_id, lock=True)
        name = subscription_name_in(transaction_id)
        if order is None and name is not None:
            order = await self._cards.charged_order(uow, tenant, name)
        return order

    async def _mark_overage_billed(
        self, uow: UnitOfWork, tenant_id: str, order: BillingOrder
    ) -> None:
        """Record on each Enterprise period whose overage ``order`` bills that it is billed."""
        billed = billed_period_order_ids(order)
        if not billed:
            return
        repository = OrderRepository(uow.session, tenant_context_for(tenant_id))
        for period_order in await repository.by_order_ids(billed):
            if period_order.overage_billed_by is None:
                period_order.overage_billed_by = order.order_id

    async def _reject(self, notification: SignedNotification, reason: str, ip: str | None) -> None:
        event = PaymentNotificationRejected(
            order_id=notification.order_id,
            reason=reason,
            status_code=notification.status_code,
            gross_amount=notification.gross_amount,
            ip=ip,
            ts_event_ms=self._clock.now_ms(),
        )
        await publish_now(self._bus, payment_notification_rejected_topic(), event)
