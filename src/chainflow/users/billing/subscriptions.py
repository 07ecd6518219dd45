"""A tenant's subscription changed by people and payments: grants of paid orders, refunds,
cancellation, a trial, a scheduled downgrade. The clock's changes are in ``lifecycle``.

An upgrade (a paid order of a higher plan) starts a new period at once; a renewal of the
same plan continues from the current end; a downgrade waits for the period end
(``scheduled_*``; the renewal order the sweep makes is for the scheduled plan). The tier
follows through ``TierSync``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import (
    NotADowngradeError,
    SubscriptionNotFoundError,
    TrialUnavailableError,
)
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.plans import TIER_RANK, Period, period_end, plan_named
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import SubscriptionRepository
from chainflow.users.billing.subscription_state import (
    LIVE,
    SubscriptionEvents,
    SubscriptionStatus,
    SubscriptionView,
    view_of,
)
from chainflow.users.billing.tiers import TierSync

PAYING = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})


class SubscriptionService:
    """Grant, take back, cancel, trial and downgrade subscriptions. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        events: SubscriptionEvents,
        tiers: TierSync,
        trial_days: dict[str, int],
    ) -> None:
        self._clock = clock
        self._events = events
        self._tiers = tiers
        self._trial_days = dict(trial_days)

    async def get(self, uow: UnitOfWork, tenant_id: str) -> SubscriptionView:
        """Return the tenant's subscription; raise ``SubscriptionNotFoundError`` if none."""
        row = await self._current(uow, tenant_id, lock=False)
        if row is None:
            raise SubscriptionNotFoundError(
                "expected a tenant with a subscription; this one never bought a plan"
            )
        return view_of(row)

    async def grant(self, uow: UnitOfWork, order: BillingOrder) -> None:
        """Add a paid order's period to the tenant's subscription (see the module text)."""
        now = self._clock.now()
        plan, period = plan_named(order.plan), Period(order.period)
        repository = SubscriptionRepository(uow.session, tenant_context_for(order.tenant_id))
        row = await repository.current(lock=True)
        previous = row.status if row is not None else None
        billed_before = await self._tiers.billed_now(uow, order.tenant_id, row)
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
        elif row.status in LIVE and _is_scheduled(row, order):
            start = row.current_period_end
            row.current_period_end = period_end(start, period)
        elif row.status in LIVE and row.plan == plan.code:
            start = row.current_period_end
            row.current_period_end = period_end(start, period)
            row.period = period.value
        else:
            start = now
            row.plan, row.period = plan.code, period.value
            row.current_period_start = now
            row.current_period_end = period_end(now, period)
            row.scheduled_plan = row.scheduled_period = row.scheduled_at = None
        row.status = SubscriptionStatus.ACTIVE.value
        row.grace_until, row.cancel_at_period_end, row.ended_at = None, False, None
        row.last_order_id = order.order_id
        row.payer_user_id, row.customer_details = order.user_id, dict(order.customer_details)
        order.granted_at = now
        order.granted_period_start, order.granted_period_end = start, row.current_period_end
        await self._tiers.apply(uow, order.tenant_id, row, billed_before=billed_before)
        self._events.changed(uow, row, previous, reason="paid")

    async def revoke(self, uow: UnitOfWork, order: BillingOrder) -> None:
        """Take back a granted order's period (canceled or refunded); expire the
        subscription at once if nothing paid is left."""
        now = self._clock.now()
        order.revoked_at = now
        row = await self._current(uow, order.tenant_id, lock=True)
        start, end = order.granted_period_start, order.granted_period_end
        if row is None or start is None or end is None or row.status not in LIVE:
            return
        if row.plan != order.plan and row.scheduled_plan != order.plan:
            return  # the order paid for an earlier plan, already replaced
        if start < row.current_period_start and row.scheduled_plan != order.plan:
            return  # the order paid for an earlier run of the plan, already over
        previous = row.status
        billed_before = await self._tiers.billed_now(uow, order.tenant_id, row)
        row.current_period_end = row.current_period_end - (end - start)
        if row.current_period_end <= now:
            await self._expire(uow, row, now, billed_before)
        self._events.changed(uow, row, previous, reason="refunded")

    async def cancel(self, uow: UnitOfWork, tenant_id: str) -> SubscriptionView:
        """Cancel at the period end: the plan stays until then and is not renewed."""
        row = await self._current(uow, tenant_id, lock=True)
        if row is None or row.status not in LIVE:
            raise SubscriptionNotFoundError(
                "expected a live subscription to cancel; the tenant has none"
            )
        previous = row.status
        if row.status == SubscriptionStatus.PAST_DUE:
            billed_before = await self._tiers.billed_now(uow, tenant_id, row)
            await self._expire(uow, row, self._clock.now(), billed_before)
        else:
            row.status, row.cancel_at_period_end = SubscriptionStatus.CANCELED.value, True
        self._events.changed(uow, row, previous, reason="canceled")
        return view_of(row)

    async def start_trial(
        self, uow: UnitOfWork, tenant_id: str, user_id: str, customer: dict[str, Any], plan: str
    ) -> SubscriptionView:
        """Give ``plan``'s tier until the trial ends, without payment, once per tenant."""
        chosen = plan_named(plan)
        days = self._trial_days.get(chosen.code, 0)
        if days <= 0 or not chosen.is_paid:
            offered = sorted(code for code, n in self._trial_days.items() if n > 0)
            raise TrialUnavailableError(
                f"expected a plan with a trial ({', '.join(offered) or 'none are offered'}); "
                f"received {chosen.code!r}"
            )
        now = self._clock.now()
        repository = SubscriptionRepository(uow.session, tenant_context_for(tenant_id))
        row = await repository.current(lock=True)
        if row is not None and (row.trial_used_at is not None or row.status in LIVE):
            reason = "used its trial" if row.trial_used_at is not None else "is on a plan"
            raise TrialUnavailableError(
                f"expected a tenant that never had a trial and is on no plan; this one {reason}"
            )
        previous = row.status if row is not None else None
        billed_before = await self._tiers.billed_now(uow, tenant_id, row)
        if row is None:
            row = Subscription(
                plan=chosen.code,
                period=Period.MONTHLY.value,
                status=SubscriptionStatus.TRIALING.value,
                current_period_start=now,
                current_period_end=now + timedelta(days=days),
            )
            await repository.add(row)
        row.plan, row.period = chosen.code, Period.MONTHLY.value
        row.status = SubscriptionStatus.TRIALING.value
        row.current_period_start, row.current_period_end = now, now + timedelta(days=days)
        row.grace_until, row.cancel_at_period_end, row.ended_at = None, False, None
        row.trial_used_at = now
        row.payer_user_id, row.customer_details = user_id, dict(customer)
        await self._tiers.apply(uow, tenant_id, row, billed_before=billed_before)
        self._events.changed(uow, row, previous, reason="trial")
        return view_of(row)

    async def schedule_downgrade(
        self, uow: UnitOfWork, tenant_id: str, plan: str, period: str
    ) -> SubscriptionView:
        """Switch to a lower plan (or the same plan's other period) at the period end; to
        ``free``, cancel at the period end. The current plan stays until then."""
        chosen, cadence = plan_named(plan), Period(period)
        row = await self._current(uow, tenant_id, lock=True)
        if row is None or row.status not in PAYING:
            raise SubscriptionNotFoundError(
                "expected an active or trialing subscription to downgrade; the tenant has none"
            )
        current = plan_named(row.plan)
        lower = TIER_RANK[chosen.tier] < TIER_RANK[current.tier]
        other_period = chosen.code == current.code and cadence.value != row.period
        if not (lower or other_period):
            raise NotADowngradeError(
                f"expected a plan below {current.code!r} or its other period; received "
                f"{chosen.code!r} {cadence.value!r} (buy a higher plan at checkout instead)"
            )
        previous = row.status
        row.scheduled_plan, row.scheduled_period = chosen.code, cadence.value
        row.scheduled_at = row.current_period_end
        if chosen.tier is Tier.FREE:
            row.status, row.cancel_at_period_end = SubscriptionStatus.CANCELED.value, True
            row.scheduled_plan = row.scheduled_period = row.scheduled_at = None
        self._events.changed(uow, row, previous, reason="downgrade_scheduled")
        return view_of(row)

    async def _current(self, uow: UnitOfWork, tenant_id: str, *, lock: bool) -> Subscription | None:
        repository = SubscriptionRepository(uow.session, tenant_context_for(tenant_id))
        return await repository.current(lock=lock)

    async def _expire(
        self, uow: UnitOfWork, row: Subscription, now: datetime, billed_before: Tier
    ) -> None:
        row.status = SubscriptionStatus.EXPIRED.value
        row.ended_at = now
        row.cancel_at_period_end = False
        row.scheduled_plan = row.scheduled_period = row.scheduled_at = None
        await self._tiers.apply(uow, row.tenant_id, row, billed_before=billed_before)


def _is_scheduled(row: Subscription, order: BillingOrder) -> bool:
    """Whether ``order`` pays for the plan scheduled at the period end (a downgrade)."""
    return (
        order.kind == "renewal"
        and row.scheduled_plan == order.plan
        and row.scheduled_period == order.period
    )
