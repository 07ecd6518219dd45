"""A subscription's states, its read view, and the events a change of it publishes.

``trialing`` (the plan for free until the trial ends, then ``expired`` unless paid),
``active`` (paid through ``current_period_end``), ``past_due`` (the period ended unrenewed;
the tier is kept until ``grace_until``), ``canceled`` (runs to its period end, then expires
without grace) and ``expired`` (back on the free tier, or a manual grant's tier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chainflow.core.clock import Clock
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.events import (
    SubscriptionChanged,
    SubscriptionExpiring,
    subscription_changed_topic,
    subscription_expiring_topic,
)
from chainflow.users.billing.models import Subscription
from chainflow.users.events import publish_after_commit


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    EXPIRED = "expired"


LIVE = frozenset(
    {
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.CANCELED,
    }
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
    trial_used: bool
    scheduled_plan: str | None
    scheduled_period: str | None
    scheduled_at: datetime | None
    renewal_order_id: str | None
    auto_renew: bool
    card_saved: bool
    card_subscription_active: bool


def view_of(row: Subscription) -> SubscriptionView:
    return SubscriptionView(
        plan=row.plan,
        period=row.period,
        status=row.status,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        grace_until=row.grace_until,
        cancel_at_period_end=row.cancel_at_period_end,
        trial_used=row.trial_used_at is not None,
        scheduled_plan=row.scheduled_plan,
        scheduled_period=row.scheduled_period,
        scheduled_at=row.scheduled_at,
        renewal_order_id=row.renewal_order_id,
        auto_renew=bool(row.auto_renew),
        card_saved=row.card_token_id is not None,
        card_subscription_active=row.card_subscription_id is not None,
    )


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SubscriptionEvents:
    """Publish subscription events after the commit."""

    def __init__(self, *, clock: Clock, bus: EventBus) -> None:
        self._clock = clock
        self._bus = bus

    def changed(
        self, uow: UnitOfWork, row: Subscription, previous: str | None, *, reason: str
    ) -> None:
        event = SubscriptionChanged(
            tenant_id=row.tenant_id,
            plan=row.plan,
            period=row.period,
            previous_status=previous,
            status=row.status,
            current_period_end_ms=ms(row.current_period_end),
            reason=reason,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, subscription_changed_topic(), event)

    def expiring(self, uow: UnitOfWork, row: Subscription, expires_at: datetime) -> None:
        event = SubscriptionExpiring(
            tenant_id=row.tenant_id,
            plan=row.plan,
            status=row.status,
            expires_at_ms=ms(expires_at),
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, subscription_expiring_topic(), event)
