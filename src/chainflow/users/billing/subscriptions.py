"""A tenant's subscription over time: granted by paid orders, swept by the clock.

States: ``active`` (paid through ``current_period_end``), ``past_due`` (the period ended
unrenewed; the tier is kept until ``grace_until``), ``canceled`` (runs to its period end,
then expires without grace) and ``expired`` (back on the free tier). Every tier change goes
through the injected ``AdminService.change_tier``, the path of ``chainflow users set-tier``:
it publishes ``users.tier.changed`` and drops cached principals, so limits change at once
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import SubscriptionNotFoundError
from chainflow.users.billing.events import SubscriptionChanged, subscription_changed_topic
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.plans import Period, period_end, plan_named
from chainflow.users.billing.ports import TierChanger, tenant_context_for
from chainflow.users.billing.repository import SubscriptionRepository
from chainflow.users.events import publish_after_commit


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    EXPIRED = "expired"


LIVE = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED}
)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    plan: str
    period: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    grace_until: datetime | None
    cancel_at_period_end: bool


def view_of(row: Subscription) -> SubscriptionView:
    return SubscriptionView(
        plan=row.plan,
        period=row.period,
        status=row.status,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        grace_until=row.grace_until,
        cancel_at_period_end=row.cancel_at_period_end,
    )


class SubscriptionService:
    """Grant, take back, cancel and expire subscriptions. Never commits."""

    def __init__(
        self, *, clock: Clock, bus: EventBus, change_tier: TierChanger, grace_period_days: int
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._change_tier = change_tier
        self._grace = timedelta(days=grace_period_days)

    async def get(self, uow: UnitOfWork, tenant_id: str) -> SubscriptionView:
        """Return the tenant's subscription; raise ``SubscriptionNotFoundError`` if none."""
        row = await SubscriptionRepository(uow.session, tenant_context_for(tenant_id)).current()
        if row is None:
            raise SubscriptionNotFoundError(
                "expected a tenant with a subscription; this one never bought a plan"
            )
        return view_of(row)

    async def grant(self, uow: UnitOfWork, order: BillingOrder) -> None:
        """Add a paid order's period: a renewal of the same plan continues from the current
        end; a new or other plan starts now. The plan's tier applies at once."""
        now = self._clock.now()
        plan, period = plan_named(order.plan), Period(order.period)
        repository = SubscriptionRepository(uow.session, tenant_context_for(order.tenant_id))
        row = await repository.current(lock=True)
        previous = row.status if row is not None else None
        if row is None:
            row = Subscription(
                plan=plan.code,
                period=period.value,
                status=SubscriptionStatus.ACTIVE.value,
                current_period_start=now,
                current_period_end=period_end(now, period),
            )
            start = now
            await repository.add(row)
        elif row.status in LIVE and row.plan == plan.code:
            start = row.current_period_end
            row.current_period_end = period_end(start, period)
        else:
            start = now
            row.current_period_start = now
            row.current_period_end = period_end(now, period)
        row.plan, row.period = plan.code, period.value
        row.status = SubscriptionStatus.ACTIVE.value
        row.grace_until, row.cancel_at_period_end, row.ended_at = None, False, None
        row.last_order_id = order.order_id
        order.granted_at = now
        order.granted_period_start, order.granted_period_end = start, row.current_period_end
        await self._set_tier(uow, order.tenant_id, plan.tier)
        self._publish(uow, row, previous, reason="paid")

    async def revoke(self, uow: UnitOfWork, order: BillingOrder) -> None:
        """Take back a granted order's period (canceled or refunded); expire the
        subscription at once if nothing paid is left."""
        now = self._clock.now()
        order.revoked_at = now
        repository = SubscriptionRepository(uow.session, tenant_context_for(order.tenant_id))
        row = await repository.current(lock=True)
        start, end = order.granted_period_start, order.granted_period_end
        if row is None or row.plan != order.plan or start is None or end is None:
            return
        if row.status not in LIVE or start < row.current_period_start:
            return  # the order paid for an earlier run of the plan, already over
        previous = row.status
        row.current_period_end = row.current_period_end - (end - start)
        if row.current_period_end <= now:
            await self._expire(uow, row, now)
        self._publish(uow, row, previous, reason="refunded")

    async def cancel(self, uow: UnitOfWork, tenant_id: str) -> SubscriptionView:
        """Cancel at the period end: the plan stays until then and is not renewed."""
        repository = SubscriptionRepository(uow.session, tenant_context_for(tenant_id))
        row = await repository.current(lock=True)
        if row is None or row.status not in LIVE:
            raise SubscriptionNotFoundError(
                "expected a live subscription to cancel; the tenant has none"
            )
        previous = row.status
        if row.status == SubscriptionStatus.PAST_DUE:
            await self._expire(uow, row, self._clock.now())
        else:
            row.status, row.cancel_at_period_end = SubscriptionStatus.CANCELED.value, True
        self._publish(uow, row, previous, reason="canceled")
        return view_of(row)

    async def sweep(self, uow: UnitOfWork, tenant_id: str) -> str | None:
        """Move the tenant's subscription along the clock; return its new status if changed.

        An ``active`` one past its end becomes ``past_due`` until the grace period ends; a
        ``past_due`` one past its grace and a ``canceled`` one past its end expire, and the
        tenant returns to the free tier.
        """
        now = self._clock.now()
        repository = SubscriptionRepository(uow.session, tenant_context_for(tenant_id))
        row = await repository.current(lock=True)
        if row is None:
            return None
        previous = row.status
        if row.status == SubscriptionStatus.ACTIVE and row.current_period_end <= now:
            row.status = SubscriptionStatus.PAST_DUE.value
            row.grace_until = row.current_period_end + self._grace
        if row.status == SubscriptionStatus.PAST_DUE and row.grace_until is not None:
            if row.grace_until <= now:
                await self._expire(uow, row, now)
        if row.status == SubscriptionStatus.CANCELED and row.current_period_end <= now:
            await self._expire(uow, row, now)
        if row.status == previous:
            return None
        self._publish(uow, row, previous, reason="clock")
        return row.status

    async def _expire(self, uow: UnitOfWork, row: Subscription, now: datetime) -> None:
        row.status = SubscriptionStatus.EXPIRED.value
        row.ended_at = now
        row.cancel_at_period_end = False
        await self._set_tier(uow, row.tenant_id, Tier.FREE)

    async def _set_tier(self, uow: UnitOfWork, tenant_id: str, tier: Tier) -> None:
        await self._change_tier(uow, None, tenant_id, tier.value)

    def _publish(
        self, uow: UnitOfWork, row: Subscription, previous: str | None, *, reason: str
    ) -> None:
        event = SubscriptionChanged(
            tenant_id=row.tenant_id,
            plan=row.plan,
            period=row.period,
            previous_status=previous,
            status=row.status,
            current_period_end_ms=int(row.current_period_end.timestamp() * 1000),
            reason=reason,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, subscription_changed_topic(), event)
