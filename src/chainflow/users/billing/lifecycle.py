"""The clock's changes to a subscription, made by the sweep (``sweep``), in this order:

1. a scheduled downgrade whose time came takes effect (new plan, its tier, a new period);
2. a trial, or a canceled subscription, past its end expires (no grace);
3. an ``active`` one past its end goes ``past_due`` until the grace period ends, with a
   ``users.billing.subscription_expiring`` event; a ``past_due`` one past its grace expires;
4. a canceled one within the renewal lead time of its end gets one
   ``subscription_expiring`` reminder (it will not be renewed);
5. a manual tier grant past its ``until`` is removed.

Expiry returns the tenant to the free tier, or to a manual grant's tier (``TierSync``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.models import Subscription
from chainflow.users.billing.plans import Period, higher_tier
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import SubscriptionRepository, TierGrantRepository
from chainflow.users.billing.subscription_state import SubscriptionEvents, SubscriptionStatus
from chainflow.users.billing.tiers import TierSync


class SubscriptionClock:
    """Move one tenant's subscription and grant along the clock. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        events: SubscriptionEvents,
        tiers: TierSync,
        grace_period_days: int,
        renewal_lead_days: int,
    ) -> None:
        self._clock = clock
        self._events = events
        self._tiers = tiers
        self._grace = timedelta(days=grace_period_days)
        self._lead = timedelta(days=renewal_lead_days)

    @property
    def lead(self) -> timedelta:
        return self._lead

    async def sweep(self, uow: UnitOfWork, tenant_id: str) -> str | None:
        """Apply what is due for the tenant; return its new status if it changed."""
        now = self._clock.now()
        tenant = tenant_context_for(tenant_id)
        row = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        billed_before = await self._tiers.billed_now(uow, tenant_id, row)
        ended_grant = await self._drop_ended_grant(uow, tenant_id, now)
        grant_ended = ended_grant is not None
        if ended_grant is not None:
            billed_before = higher_tier(billed_before, ended_grant)
        if row is None:
            if grant_ended:
                await self._tiers.apply(uow, tenant_id, None, billed_before=billed_before)
            return None
        previous, plan_before = row.status, row.plan
        self._apply_scheduled(row, now)
        self._move_status(uow, row, now)
        self._remind_canceled(uow, row, now)
        if row.status == SubscriptionStatus.EXPIRED and previous != row.status:
            row.ended_at = now
            row.cancel_at_period_end = False
            row.scheduled_plan = row.scheduled_period = row.scheduled_at = None
        if grant_ended or row.plan != plan_before or row.status != previous:
            await self._tiers.apply(uow, tenant_id, row, billed_before=billed_before)
        if row.status == previous and row.plan == plan_before:
            return None
        self._events.changed(uow, row, previous, reason="clock")
        return row.status

    def _apply_scheduled(self, row: Subscription, now: datetime) -> None:
        if row.scheduled_at is None or row.scheduled_at > now or row.scheduled_plan is None:
            return
        row.plan = row.scheduled_plan
        row.period = row.scheduled_period or Period.MONTHLY.value
        row.current_period_start = row.scheduled_at
        row.scheduled_plan = row.scheduled_period = row.scheduled_at = None

    def _move_status(self, uow: UnitOfWork, row: Subscription, now: datetime) -> None:
        ended = row.current_period_end <= now
        if row.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.CANCELED) and ended:
            row.status = SubscriptionStatus.EXPIRED.value
            return
        if row.status == SubscriptionStatus.ACTIVE and ended:
            row.status = SubscriptionStatus.PAST_DUE.value
            row.grace_until = row.current_period_end + self._grace
            self._events.expiring(uow, row, row.grace_until)
        if row.status == SubscriptionStatus.PAST_DUE and row.grace_until is not None:
            if row.grace_until <= now:
                row.status = SubscriptionStatus.EXPIRED.value

    def _remind_canceled(self, uow: UnitOfWork, row: Subscription, now: datetime) -> None:
        if row.status != SubscriptionStatus.CANCELED:
            return
        if row.reminded_for_end == row.current_period_end:
            return
        if row.current_period_end - self._lead > now:
            return
        row.reminded_for_end = row.current_period_end
        self._events.expiring(uow, row, row.current_period_end)

    async def _drop_ended_grant(
        self, uow: UnitOfWork, tenant_id: str, now: datetime
    ) -> Tier | None:
        """Remove a grant past its ``until``; return the tier it gave."""
        grants = TierGrantRepository(uow.session, tenant_context_for(tenant_id))
        grant = await grants.current(lock=True)
        if grant is None or grant.until is None or grant.until > now:
            return None
        await grants.delete(grant)
        return Tier(grant.tier)


__all__ = ["SubscriptionClock"]
