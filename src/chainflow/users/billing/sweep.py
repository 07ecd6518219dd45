"""The expiry sweep: a job that moves every due subscription along the clock.

Run periodically by the users service (``CHAINFLOW_BILLING_SWEEP_INTERVAL_S``) and on
demand by a superadmin (``POST /api/v1/admin/billing/sweep``). Each tenant is swept in its
own transaction, so one failure does not hold back the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.storage.relational import Database
from chainflow.users.billing.repository import BillingLookup
from chainflow.users.billing.subscriptions import SubscriptionService

log = get_logger("chainflow.users.billing.sweep")


@dataclass(frozen=True, slots=True)
class SweepResult:
    visited: int
    changed: dict[str, str] = field(default_factory=dict)  # tenant id -> new status


async def sweep_subscriptions(
    database: Database, subscriptions: SubscriptionService, clock: Clock
) -> SweepResult:
    """Sweep every subscription whose period or grace has ended; return what changed."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        due = await BillingLookup(uow.session).tenants_due_for_sweep(clock.now())
    changed: dict[str, str] = {}
    for tenant_id in due:
        try:
            async with database.unit_of_work(system=True) as uow:
                status = await subscriptions.sweep(uow, tenant_id)
        except Exception as e:
            log.error("billing_sweep_failed", tenant_id=tenant_id, error=type(e).__name__)
            continue
        if status is not None:
            changed[tenant_id] = status
    return SweepResult(visited=len(due), changed=changed)


async def run_sweeps(
    database: Database, subscriptions: SubscriptionService, clock: Clock, interval_s: float
) -> None:
    """Sweep every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = await sweep_subscriptions(database, subscriptions, clock)
        except Exception as e:
            log.error("billing_sweep_round_failed", error=type(e).__name__)
            continue
        if result.changed:
            log.info("billing_swept", visited=result.visited, changed=len(result.changed))
