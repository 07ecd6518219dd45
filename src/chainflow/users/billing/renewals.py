"""Renewal orders, made by the sweep ``renewal_lead_days`` before a period ends.

A renewal is an order like a checkout, paid on a Midtrans Payment Link
(``payment_links``; or a Snap page with ``CHAINFLOW_BILLING_RENEWAL_PAYMENT=snap``): its
URL is the order's ``redirect_url``, and the ``users.billing.renewal_due`` event carries it
for the notification hub's reminder. The payment's notification goes through the usual
webhook and renews the subscription. It is made once per period end
(``Subscription.reminded_for_end``), for the plan scheduled at the period end if a
downgrade is, with a line per finished Enterprise period whose overage is not billed yet.
No transaction stays open during the call to Midtrans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.core.clock import Clock
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.events import (
    PaymentFailed,
    RenewalDue,
    payment_failed_topic,
    renewal_due_topic,
)
from chainflow.users.billing.midtrans import PaymentLink, SnapTransaction
from chainflow.users.billing.models import Subscription
from chainflow.users.billing.orders import OrderService, OrderView
from chainflow.users.billing.plans import Period, plan_named
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.pricing import LineItem
from chainflow.users.billing.repository import OrderRepository, SubscriptionRepository
from chainflow.users.billing.subscription_state import SubscriptionStatus, ms
from chainflow.users.billing.usage import (
    OVERAGE_PLAN,
    OveragePricing,
    UsageSource,
    api_overage_line,
    overage_line,
    unbilled_periods,
)
from chainflow.users.events import publish_after_commit

RENEWABLE = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})


@dataclass(frozen=True, slots=True)
class UnbilledPeriod:
    order_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class RenewalDraft:
    tenant_id: str
    plan: str
    period: str
    period_end: datetime
    unbilled: tuple[UnbilledPeriod, ...]


class RenewalService:
    """Decide, make and record renewal orders. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        orders: OrderService,
        lead: timedelta,
        usage: UsageSource | None,
        overage: OveragePricing,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._orders = orders
        self._lead = lead
        self._usage = usage
        self._overage = overage

    async def due(self, uow: UnitOfWork, tenant_id: str) -> RenewalDraft | None:
        """Return the renewal the tenant needs now, or None."""
        now = self._clock.now()
        tenant = tenant_context_for(tenant_id)
        row = await SubscriptionRepository(uow.session, tenant).current()
        if row is None or not _needs_renewal(row, now, self._lead):
            return None
        plan, period = row.plan, row.period
        if row.scheduled_plan is not None and row.scheduled_at == row.current_period_end:
            plan, period = row.scheduled_plan, row.scheduled_period or period
        granted = await OrderRepository(uow.session, tenant).granted(OVERAGE_PLAN)
        unbilled = tuple(
            UnbilledPeriod(o.order_id, o.granted_period_start, o.granted_period_end)
            for o in unbilled_periods(granted, now)
            if o.granted_period_start is not None and o.granted_period_end is not None
        )
        return RenewalDraft(tenant_id, plan, period, row.current_period_end, unbilled)

    async def overage_lines(self, draft: RenewalDraft) -> tuple[LineItem, ...]:
        """Return the overage lines of ``draft``'s unbilled Enterprise periods (reads
        metering; call outside a transaction)."""
        if self._usage is None:
            return ()
        lines: list[LineItem] = []
        for period in draft.unbilled:
            counts = await self._usage(draft.tenant_id, period.start, period.end)
            ticks = overage_line_for(period, counts.ticks, self._overage)
            calls = api_overage_line(
                period.order_id, period.start, counts.api_calls or 0, self._overage
            )
            lines.extend(line for line in (ticks, calls) if line is not None)
        return tuple(lines)

    async def create(
        self, uow: UnitOfWork, draft: RenewalDraft, extras: tuple[LineItem, ...]
    ) -> tuple[OrderView, dict[str, object]] | None:
        """Store the renewal order, once per period end; None if it was made already."""
        tenant = tenant_context_for(draft.tenant_id)
        row = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        if row is None or row.current_period_end != draft.period_end:
            return None
        if not _needs_renewal(row, self._clock.now(), self._lead):
            return None
        if row.customer_details is None and row.last_order_id is not None:
            last = await OrderRepository(uow.session, tenant).by_order_id(row.last_order_id)
            if last is not None:
                row.customer_details, row.payer_user_id = dict(last.customer_details), last.user_id
        order, payload = await self._orders.create_renewal(
            uow, tenant, row, plan_named(draft.plan), Period(draft.period), extras
        )
        row.reminded_for_end = row.current_period_end
        row.renewal_order_id = order.order_id
        return order, payload

    async def record(
        self,
        uow: UnitOfWork,
        tenant: TenantContext,
        order: OrderView,
        page: SnapTransaction | PaymentLink,
    ) -> None:
        """Store the payment page (Snap's or a Payment Link) and publish
        ``users.billing.renewal_due`` with its URL."""
        if isinstance(page, PaymentLink):
            await self._orders.record_payment_link(uow, tenant, order.order_id, page)
            url = page.payment_url
        else:
            await self._orders.record_snap(uow, tenant, order.order_id, page)
            url = page.redirect_url
        row = await SubscriptionRepository(uow.session, tenant).current()
        end = row.current_period_end if row is not None else self._clock.now()
        event = RenewalDue(
            tenant_id=order.tenant_id,
            order_id=order.order_id,
            plan=order.plan,
            period=order.period,
            gross_amount_idr=order.gross_amount_idr,
            redirect_url=url,
            current_period_end_ms=ms(end),
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, renewal_due_topic(), event)

    async def failed(
        self, uow: UnitOfWork, tenant: TenantContext, order: OrderView, reason: str
    ) -> None:
        """Record that Midtrans refused the renewal and publish ``users.billing.payment_failed``."""
        view = await self._orders.mark_failed(uow, tenant, order.order_id, reason)
        event = PaymentFailed(
            tenant_id=view.tenant_id,
            order_id=view.order_id,
            plan=view.plan,
            period=view.period,
            kind=view.kind,
            status=view.status,
            gross_amount_idr=view.gross_amount_idr,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, payment_failed_topic(), event)


def _needs_renewal(row: Subscription, now: datetime, lead: timedelta) -> bool:
    if row.status not in RENEWABLE or row.cancel_at_period_end:
        return False
    if row.reminded_for_end == row.current_period_end:
        return False
    return row.current_period_end - lead <= now


def overage_line_for(
    period: UnbilledPeriod, ticks: int, pricing: OveragePricing
) -> LineItem | None:
    """Return the overage line of one finished Enterprise period."""
    return overage_line(period.order_id, period.start, ticks, pricing)
