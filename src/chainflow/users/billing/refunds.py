"""Refunds by superadmins through the Midtrans Core API, applied like a notification.

The refund call (``POST {core}/{id}/refund``) spans no transaction. It names the
transaction as Midtrans knows it: the order's id for a Snap payment, the purchase id
(``<order_id>-<suffix>``) for a Payment Link, the charge's id for a card subscription,
as the webhook stored them (``OrderView.transaction_id``). Midtrans then
reports ``refund`` or ``partial_refund``; the order moves by that confirmed status through
``NotificationService.apply`` (a full refund takes the plan's period back), so a later
notification of the same refund changes nothing. Each refund is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.ids import new_id
from chainflow.storage.relational import Database
from chainflow.users.billing.audit import AuditTrail
from chainflow.users.billing.errors import RefundRefusedError
from chainflow.users.billing.midtrans import MidtransClient
from chainflow.users.billing.notifications import NotificationService, SignedNotification
from chainflow.users.billing.order_state import OrderStatus
from chainflow.users.billing.orders import OrderService
from chainflow.users.billing.ports import tenant_context_for

REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED})


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    order_id: str
    tenant_id: str
    amount_idr: int
    status: str


class RefundService:
    """Refund a paid order (opens its own units of work around the Midtrans calls)."""

    def __init__(
        self,
        *,
        database: Database,
        midtrans: MidtransClient,
        orders: OrderService,
        notifications: NotificationService,
        audit: AuditTrail,
    ) -> None:
        self._database = database
        self._midtrans = midtrans
        self._orders = orders
        self._notifications = notifications
        self._audit = audit

    async def refund(
        self, actor_user_id: str, order_id: str, amount_idr: int | None, reason: str
    ) -> RefundOutcome:
        """Refund ``amount_idr`` (the whole order if None) of a paid order."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            tenant_id = await self._notifications.tenant_of(uow, order_id)
            order = await self._orders.get(uow, tenant_context_for(tenant_id), order_id)
        amount = order.gross_amount_idr if amount_idr is None else amount_idr
        if OrderStatus(order.status) not in REFUNDABLE:
            raise RefundRefusedError(
                f"expected a paid order to refund; {order_id!r} is {order.status!r}"
            )
        if not 1 <= amount <= order.gross_amount_idr:
            raise RefundRefusedError(
                f"expected a refund of 1 to {order.gross_amount_idr} rupiah; received {amount}"
            )
        transaction_id = order.transaction_id
        await self._midtrans.refund(transaction_id, "RF-" + new_id(), amount, reason)
        confirmed = await self._midtrans.transaction_status(transaction_id)
        notification = SignedNotification(
            order_id=transaction_id,
            status_code=confirmed.status_code,
            gross_amount=confirmed.gross_amount,
            transaction_status=confirmed.transaction_status,
        )
        async with self._database.unit_of_work(system=True) as uow:
            outcome = await self._notifications.apply(uow, tenant_id, notification, confirmed, None)
            await self._audit.record(
                uow,
                actor_user_id=actor_user_id,
                action="refund",
                tenant_id=tenant_id,
                order_id=order_id,
                reason=reason,
                details={
                    "amount_idr": amount,
                    "status": outcome.status,
                    "midtrans_order_id": transaction_id,
                },
            )
        return RefundOutcome(order_id, tenant_id, amount, outcome.status)
