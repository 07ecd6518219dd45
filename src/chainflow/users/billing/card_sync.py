"""Card renewals that call Midtrans: each call runs between two transactions, never inside
one (``card_subscriptions`` holds the rules and the database side)."""

from __future__ import annotations

from chainflow.core.logging import get_logger
from chainflow.storage.relational import Database
from chainflow.users.billing.errors import PaymentGatewayError
from chainflow.users.billing.orders import OrderView
from chainflow.users.billing.service import BillingService

log = get_logger("chainflow.users.billing.card_sync")


async def stop_stale_card_subscription(
    database: Database, billing: BillingService, tenant_id: str
) -> bool:
    """Disable the tenant's Midtrans card subscription if it must stop charging (canceled,
    downgraded, upgraded, opted out, expired); return whether one was disabled."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        subscription_id = await billing.cards.stale(uow, tenant_id)
    if subscription_id is None:
        return False
    await billing.midtrans.disable_subscription(subscription_id)
    async with database.unit_of_work(system=True) as uow:
        await billing.cards.forget(uow, tenant_id, subscription_id)
    return True


async def stop_stale_quietly(database: Database, billing: BillingService, tenant_id: str) -> None:
    """``stop_stale_card_subscription`` for request paths: a Midtrans failure is logged and
    left to the sweep, which visits every tenant with a card subscription to stop."""
    try:
        await stop_stale_card_subscription(database, billing, tenant_id)
    except PaymentGatewayError as e:
        log.warning("card_subscription_disable_failed", tenant_id=tenant_id, error=e.code)


async def renew_by_card(
    database: Database, billing: BillingService, tenant_id: str, order: OrderView
) -> bool:
    """Have the renewal ``order`` charged to the tenant's saved card by a Midtrans
    subscription (created, or updated to the order's amount); return False when the
    tenant has not opted in or Midtrans refused, so that a Payment Link is made instead."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        charge = await billing.cards.charge_for(uow, tenant_id, order)
    if charge is None:
        return False
    try:
        if charge.replaces is not None:
            await billing.midtrans.disable_subscription(charge.replaces)
            async with database.unit_of_work(system=True) as uow:
                await billing.cards.forget(uow, tenant_id, charge.replaces)
        subscription_id = charge.subscription_id
        if subscription_id is None:
            created = await billing.midtrans.create_subscription(
                charge.create_payload(), idempotency_key=order.order_id
            )
            subscription_id = created.subscription_id
        elif charge.charged_idr != charge.amount_idr:
            await billing.midtrans.update_subscription(subscription_id, charge.update_payload())
    except PaymentGatewayError as e:
        log.warning("card_renewal_failed", tenant_id=tenant_id, error=e.code)
        return False
    async with database.unit_of_work(system=True) as uow:
        await billing.cards.record(uow, tenant_id, charge, subscription_id)
    return True
