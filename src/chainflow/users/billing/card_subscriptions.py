"""Card renewals through Midtrans subscriptions (``POST /v1/subscriptions``).

Checkout asks Snap to offer saving the card (``credit_card.save_card``); when a card
payment is confirmed, the ``saved_token_id`` Midtrans sends with it is kept on the
subscription (the token only: Midtrans never gives us the card number). A tenant with a
saved card may opt in to auto-renewal (``PUT /api/v1/billing/subscription/auto-renew``).
Its renewal orders are then charged by a Midtrans subscription on the card, created by the
sweep with the first renewal (``start_time`` the period end, one charge a month or every
12 months) and updated when the renewal amount changes; the other tenants keep paying on
Payment Links.

Midtrans names each charge's transaction after the subscription's ``name`` ("Generated
order ID will contain subscription name and 10 digits of unique number"; since August
2023 notifications may carry it with a ``SUBS-`` prefix). Our names are ``CFS-<32 hex>``,
so a charge is recognised by finding its subscription's name anywhere in its order id
(``subscription_name_in``), whatever the separator or prefix. A charge pays the tenant's
open renewal order, which records the charge's id (``midtrans_order_id``) for refunds.

The Midtrans subscription keeps charging only while ``keeps_charging`` holds: opted in,
``active`` or ``past_due``, not canceled, and charging the plan and period the
subscription goes on with (``renews_into``). Cancel, scheduling a downgrade, an upgrade,
opting out and expiry break it; ``card_sync.stop_stale_card_subscription`` then disables it
(``POST /v1/subscriptions/{id}/disable``), outside any transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.ids import new_id
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import NoSavedCardError, SubscriptionNotFoundError
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.billing.order_state import OrderStatus, join
from chainflow.users.billing.orders import OrderView
from chainflow.users.billing.payment_links import JAKARTA
from chainflow.users.billing.plans import Period
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import OrderRepository, SubscriptionRepository
from chainflow.users.billing.subscription_state import (
    SubscriptionStatus,
    SubscriptionView,
    view_of,
)

NAME_PREFIX = "CFS-"
_NAME = re.compile(r"CFS-[0-9a-f]{32}")
CHARGEABLE = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
CARD_PAYMENT = "credit_card"
# Midtrans refuses a start_time that is not in the future.
MIN_START_AHEAD = timedelta(minutes=5)


def new_subscription_name() -> str:
    """Return a name for a new Midtrans subscription (at most 40 characters)."""
    return NAME_PREFIX + new_id()


def subscription_name_in(order_id: str) -> str | None:
    """Return the name of our card subscription inside a charge's order id, or None."""
    match = _NAME.search(order_id)
    return match.group(0) if match else None


def start_time_text(moment: datetime) -> str:
    """Return ``moment`` as a subscription ``start_time`` (``yyyy-MM-dd HH:mm:ss Z``)."""
    return moment.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S %z")


def interval_of(period: Period) -> int:
    """Months between charges: the Subscription API counts in days, weeks or months."""
    return 12 if period is Period.YEARLY else 1


def renews_into(row: Subscription) -> tuple[str, str]:
    """Return the plan and period the subscription goes on with: a scheduled downgrade's
    once one is scheduled (its renewal is for it), else the current ones."""
    if row.scheduled_plan is not None:
        return row.scheduled_plan, row.scheduled_period or row.period
    return row.plan, row.period


def keeps_charging(row: Subscription) -> bool:
    """Whether the tenant's Midtrans card subscription should go on charging."""
    return (
        row.card_subscription_id is not None
        and row.auto_renew
        and row.card_token_id is not None
        and row.status in CHARGEABLE
        and not row.cancel_at_period_end
        and (row.card_subscription_plan, row.card_subscription_period) == renews_into(row)
    )


@dataclass(frozen=True, slots=True)
class CardCharge:
    """How the sweep should charge a renewal order to the tenant's saved card."""

    order_id: str
    name: str
    token: str
    plan: str
    period: Period
    amount_idr: int
    start: datetime
    customer: dict[str, Any]
    subscription_id: str | None  # an existing subscription for this plan and period
    charged_idr: int | None  # what it charges now
    replaces: str | None  # a subscription for another plan, to disable first

    def create_payload(self) -> dict[str, Any]:
        """The body of ``POST /v1/subscriptions``."""
        return {
            "name": self.name,
            "amount": str(self.amount_idr),
            "currency": "IDR",
            "payment_type": CARD_PAYMENT,
            "token": self.token,
            "schedule": {
                "interval": interval_of(self.period),
                "interval_unit": "month",
                "start_time": start_time_text(self.start),
            },
            "metadata": {"plan": self.plan, "period": self.period.value},
            "customer_details": dict(self.customer),
        }

    def update_payload(self) -> dict[str, Any]:
        """The body of ``PATCH /v1/subscriptions/{id}``: the new amount."""
        return {
            "name": self.name,
            "amount": str(self.amount_idr),
            "currency": "IDR",
            "token": self.token,
            "schedule": {"interval": interval_of(self.period)},
        }


class CardSubscriptionService:
    """The database side of card renewals. Never commits; never calls Midtrans."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    async def set_auto_renew(
        self, uow: UnitOfWork, tenant_id: str, enabled: bool
    ) -> SubscriptionView:
        """Opt in to (or out of) renewals charged to the saved card."""
        row = await self._current(uow, tenant_id, lock=True)
        if row is None:
            raise SubscriptionNotFoundError(
                "expected a tenant with a subscription; this one never bought a plan"
            )
        if enabled and row.card_token_id is None:
            raise NoSavedCardError(
                "expected a card saved at a card payment (tick 'save card' on the Snap "
                "page); this tenant has none, so its renewals are paid on Payment Links"
            )
        if enabled and row.status not in CHARGEABLE:
            raise SubscriptionNotFoundError(
                f"expected an active subscription to renew by card; this one is {row.status!r}"
            )
        row.auto_renew = enabled
        return view_of(row)

    async def remember_card(self, uow: UnitOfWork, tenant: TenantContext, token: str) -> None:
        """Keep the ``saved_token_id`` of a confirmed card payment for card renewals."""
        row = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        if row is not None:
            row.card_token_id = token[:100]

    async def charged_order(
        self, uow: UnitOfWork, tenant: TenantContext, name: str
    ) -> BillingOrder | None:
        """Return the renewal order a charge of the subscription ``name`` pays, or None."""
        row = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        if row is None or row.card_subscription_name != name or row.renewal_order_id is None:
            return None
        return await OrderRepository(uow.session, tenant).by_order_id(
            row.renewal_order_id, lock=True
        )

    async def stale(self, uow: UnitOfWork, tenant_id: str) -> str | None:
        """Return the id of the tenant's card subscription if it must stop charging."""
        row = await self._current(uow, tenant_id, lock=False)
        if row is None or row.card_subscription_id is None or keeps_charging(row):
            return None
        return row.card_subscription_id

    async def forget(self, uow: UnitOfWork, tenant_id: str, subscription_id: str) -> None:
        """Record that the card subscription ``subscription_id`` was disabled."""
        row = await self._current(uow, tenant_id, lock=True)
        if row is None or row.card_subscription_id != subscription_id:
            return
        row.card_subscription_id = row.card_subscription_name = None
        row.card_subscription_plan = row.card_subscription_period = None
        row.card_subscription_amount_idr = None

    async def charge_for(
        self, uow: UnitOfWork, tenant_id: str, order: OrderView
    ) -> CardCharge | None:
        """Return how to charge the renewal ``order`` to the saved card, or None when the
        tenant did not opt in or has no saved card."""
        row = await self._current(uow, tenant_id, lock=False)
        if row is None or not row.auto_renew or row.card_token_id is None:
            return None
        same = (row.card_subscription_plan, row.card_subscription_period) == (
            order.plan,
            order.period,
        )
        existing = row.card_subscription_id if same else None
        start = max(row.current_period_end, self._clock.now() + MIN_START_AHEAD)
        return CardCharge(
            order_id=order.order_id,
            name=(row.card_subscription_name if existing else None) or new_subscription_name(),
            token=row.card_token_id,
            plan=order.plan,
            period=Period(order.period),
            amount_idr=order.gross_amount_idr,
            start=start,
            customer=dict(row.customer_details or {}),
            subscription_id=existing,
            charged_idr=row.card_subscription_amount_idr if existing else None,
            replaces=row.card_subscription_id if not same else None,
        )

    async def record(
        self, uow: UnitOfWork, tenant_id: str, charge: CardCharge, subscription_id: str
    ) -> None:
        """Store the card subscription that charges ``charge``'s order; the order now awaits
        that charge."""
        tenant = tenant_context_for(tenant_id)
        row = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        if row is None:
            return
        row.card_subscription_id, row.card_subscription_name = subscription_id, charge.name
        row.card_subscription_plan = charge.plan
        row.card_subscription_period = charge.period.value
        row.card_subscription_amount_idr = charge.amount_idr
        order = await OrderRepository(uow.session, tenant).by_order_id(charge.order_id, lock=True)
        if order is not None:
            order.status = join(OrderStatus(order.status), OrderStatus.PENDING).value

    async def _current(self, uow: UnitOfWork, tenant_id: str, *, lock: bool) -> Subscription | None:
        repository = SubscriptionRepository(uow.session, tenant_context_for(tenant_id))
        return await repository.current(lock=lock)


__all__ = [
    "CardCharge",
    "CardSubscriptionService",
    "keeps_charging",
    "subscription_name_in",
]
