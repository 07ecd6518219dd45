"""The billing sweep: a job that moves every due subscription along the clock and makes
the renewal orders that are due.

Run periodically by the users service (``CHAINFLOW_BILLING_SWEEP_INTERVAL_S``) and on
demand by a superadmin (``POST /api/v1/admin/billing/sweep``). Each tenant is swept in its
own transactions, so one failure does not hold back the others; a renewal's call to
Midtrans (a card subscription, a Payment Link, or a Snap page) runs between two
transactions, never inside one. A card subscription that must stop charging (the tenant
canceled, changed plan, opted out or expired) is disabled here too (``card_sync``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.storage.relational import Database
from chainflow.users.billing.card_sync import renew_by_card, stop_stale_quietly
from chainflow.users.billing.errors import PaymentGatewayError
from chainflow.users.billing.midtrans import PaymentLink, SnapTransaction
from chainflow.users.billing.payment_links import payment_link_payload
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import BillingLookup
from chainflow.users.billing.service import BillingService

log = get_logger("chainflow.users.billing.sweep")


@dataclass(frozen=True, slots=True)
class SweepResult:
    visited: int
    changed: dict[str, str] = field(default_factory=dict)  # tenant id -> new status
    renewals: dict[str, str] = field(default_factory=dict)  # tenant id -> renewal order id


async def sweep_subscriptions(
    database: Database, billing: BillingService, clock: Clock
) -> SweepResult:
    """Sweep every tenant with something due; return what changed."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        lookup = BillingLookup(uow.session)
        due = await lookup.tenants_due_for_sweep(clock.now(), billing.lifecycle.lead)
    changed: dict[str, str] = {}
    renewals: dict[str, str] = {}
    for tenant_id in due:
        try:
            async with database.unit_of_work(system=True) as uow:
                status = await billing.lifecycle.sweep(uow, tenant_id)
            if status is not None:
                changed[tenant_id] = status
            await stop_stale_quietly(database, billing, tenant_id)
            order_id = await renew(database, billing, tenant_id, clock)
        except Exception as e:
            log.error("billing_sweep_failed", tenant_id=tenant_id, error=type(e).__name__)
            continue
        if order_id is not None:
            renewals[tenant_id] = order_id
    return SweepResult(visited=len(due), changed=changed, renewals=renewals)


async def renew(
    database: Database, billing: BillingService, tenant_id: str, clock: Clock
) -> str | None:
    """Make the tenant's renewal order if one is due, charged to the saved card of a tenant
    that opted in, else on a payment page; return its id."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        draft = await billing.renewals.due(uow, tenant_id)
    if draft is None:
        return None
    extras = await billing.renewals.overage_lines(draft)
    async with database.unit_of_work(system=True) as uow:
        made = await billing.renewals.create(uow, draft, extras)
    if made is None:
        return None
    order, payload = made
    if await renew_by_card(database, billing, tenant_id, order):
        return order.order_id
    tenant = tenant_context_for(tenant_id)
    try:
        page = await _payment_page(billing, clock, order.plan, order.period, payload)
    except PaymentGatewayError as e:
        async with database.unit_of_work(system=True) as uow:
            await billing.renewals.failed(uow, tenant, order, e.message)
        return order.order_id
    async with database.unit_of_work(system=True) as uow:
        await billing.renewals.record(uow, tenant, order, page)
    return order.order_id


async def _payment_page(
    billing: BillingService, clock: Clock, plan: str, period: str, payload: dict[str, Any]
) -> SnapTransaction | PaymentLink:
    """Ask Midtrans for the renewal's payment page: a Payment Link open until the grace
    period ends, or a Snap page (``renewal_payment``)."""
    settings = billing.settings
    if settings.renewal_payment == "snap":
        return await billing.midtrans.create_snap_transaction(payload)
    link = payment_link_payload(
        payload,
        title=f"ChainFlow {plan} ({period}) renewal",
        now=clock.now(),
        valid_days=settings.renewal_lead_days + settings.grace_period_days,
    )
    return await billing.midtrans.create_payment_link(link)


async def run_sweeps(
    database: Database, billing: BillingService, clock: Clock, interval_s: float
) -> None:
    """Sweep every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = await sweep_subscriptions(database, billing, clock)
        except Exception as e:
            log.error("billing_sweep_round_failed", error=type(e).__name__)
            continue
        if result.changed or result.renewals:
            log.info(
                "billing_swept",
                visited=result.visited,
                changed=len(result.changed),
                renewals=len(result.renewals),
            )
