"""Billing's use cases bundled, and ``build_billing_service`` for the composition root."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from chainflow.core.clock import Clock
from chainflow.core.settings import BillingSettings
from chainflow.hub.api import EventBus
from chainflow.users.billing.coupons import CouponService
from chainflow.users.billing.invoices import InvoiceService
from chainflow.users.billing.midtrans import MidtransClient
from chainflow.users.billing.notifications import NotificationService
from chainflow.users.billing.orders import OrderService
from chainflow.users.billing.ports import CustomerLookup, TierChanger
from chainflow.users.billing.subscriptions import SubscriptionService


@dataclass(frozen=True, slots=True)
class BillingService:
    """Every billing use case, built once per process."""

    settings: BillingSettings
    midtrans: MidtransClient
    orders: OrderService
    notifications: NotificationService
    subscriptions: SubscriptionService
    invoices: InvoiceService
    coupons: CouponService


def build_billing_service(
    *,
    settings: BillingSettings,
    clock: Clock,
    bus: EventBus,
    change_tier: TierChanger,
    customer_of: CustomerLookup,
    http: httpx.AsyncClient,
) -> BillingService:
    """Build billing. ``change_tier`` is the users service's ``AdminService.change_tier``
    (the path of ``chainflow users set-tier``) and ``customer_of`` its
    ``AccountService.get_profile``. ``http`` is owned by the caller."""
    subscriptions = SubscriptionService(
        clock=clock, bus=bus, change_tier=change_tier, grace_period_days=settings.grace_period_days
    )
    invoices = InvoiceService(clock=clock, bus=bus)
    return BillingService(
        settings=settings,
        midtrans=MidtransClient(settings, http),
        orders=OrderService(
            clock=clock,
            customer_of=customer_of,
            ppn_rate_percent=settings.ppn_rate_percent,
            finish_url=settings.finish_url,
        ),
        notifications=NotificationService(
            clock=clock,
            bus=bus,
            server_key=settings.server_key.get_secret_value(),
            subscriptions=subscriptions,
            invoices=invoices,
        ),
        subscriptions=subscriptions,
        invoices=invoices,
        coupons=CouponService(),
    )
