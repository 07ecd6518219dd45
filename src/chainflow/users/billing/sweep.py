"""The billing sweep: a job that moves every due subscription along the clock and makes
the renewal orders that are due.

Run periodically by the users service (``CHAINFLOW_BILLING_SWEEP_INTERVAL_S``) and on
demand by a superadmin (``POST /api/v1/admin/billing/sweep``). Each tenant is swept in its
own transactions, so one failure does not hold back the others; a renewal's Snap call runs
between two transactions, never inside one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.storage.relational import Database
from chainflow.users.billing.errors import PaymentGatewayError
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
            order_id = await renew(database, billing, tenant_id)
        except Exception as e:
            log.error("billing_sweep_failed", tenant_id=tenant_id, error=type(e).__name__)
            continue
        if order_id is not None:
            renewals[tenant_id] = order_id
    return SweepResult(visited=len(due), changed=changed, renewals=renewals)


async def renew(database: Database, billing: BillingService, tenant_id: str) -> str | None:
    """Make the tenant's renewal order if one is due; return its id."""
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
    tenant = tenant_context_for(tenant_id)
    try:
        snap = await billing.midtrans.create_snap_transaction(payload)
    except PaymentGatewayError as e:
        async with database.unit_of_work(system=True) as uow:
            await billing.renewals.failed(uow, tenant, order, e.message)
        return order.order_id
    async with database.unit_of_work(system=True) as uow:
        await billing.renewals.record(uow, tenant, order, snap)
    return order.order_id


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
