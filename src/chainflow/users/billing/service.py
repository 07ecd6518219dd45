"""Billing's use cases bundled, and ``build_billing_service`` for the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from chainflow.core.clock import Clock
from chainflow.core.settings import BillingSettings
from chainflow.hub.api import EventBus
from chainflow.storage.relational import Database
from chainflow.users.billing.admin_reports import AdminReports
from chainflow.users.billing.audit import AuditTrail
from chainflow.users.billing.card_subscriptions import CardSubscriptionService
from chainflow.users.billing.coupons import CouponService
from chainflow.users.billing.grants import GrantService
from chainflow.users.billing.invoices import InvoiceService
from chainflow.users.billing.lifecycle import SubscriptionClock
from chainflow.users.billing.midtrans import MidtransClient
from chainflow.users.billing.notifications import NotificationService
from chainflow.users.billing.orders import OrderService
from chainflow.users.billing.plan_prices import PlanPriceService
from chainflow.users.billing.ports import CustomerLookup, TierChanger, TierReader
from chainflow.users.billing.refunds import RefundService
from chainflow.users.billing.renewals import RenewalService
from chainflow.users.billing.subscription_state import SubscriptionEvents
from chainflow.users.billing.subscriptions import SubscriptionService
from chainflow.users.billing.tiers import TierSync
from chainflow.users.billing.usage import OveragePricing, UsageSource
from chainflow.users.billing.usage_report import UsageReporter


@dataclass(frozen=True, slots=True)
class BillingService:
    """Every billing use case, built once per process."""

    settings: BillingSettings
    midtrans: MidtransClient
    orders: OrderService
    notifications: NotificationService
    subscriptions: SubscriptionService
    lifecycle: SubscriptionClock
    renewals: RenewalService
    invoices: InvoiceService
    coupons: CouponService
    grants: GrantService
    refunds: RefundService
    audit: AuditTrail
    prices: PlanPriceService
    reports: AdminReports
    usage: UsageReporter
    cards: CardSubscriptionService


def build_billing_service(
    *,
    settings: BillingSettings,
    clock: Clock,
    bus: EventBus,
    database: Database,
    change_tier: TierChanger,
    read_tier: TierReader,
    customer_of: CustomerLookup,
    http: httpx.AsyncClient,
    usage: UsageSource | None = None,
) -> BillingService:
    """Build billing. ``change_tier`` is the users service's ``AdminService.change_tier``
    (the path of ``chainflow users set-tier``), ``read_tier`` its ``AdminService
    .get_tenant`` and ``customer_of`` its ``AccountService.get_profile``; ``usage`` reads
    metering (None: ``/billing/usage`` answers 503 and renewals carry no overage).
    ``http`` is owned by the caller."""
    events = SubscriptionEvents(clock=clock, bus=bus)
    tiers = TierSync(clock=clock, change_tier=change_tier, read_tier=read_tier)
    subscriptions = SubscriptionService(
        clock=clock, events=events, tiers=tiers, trial_days=settings.trial_days
    )
    lifecycle = SubscriptionClock(
        clock=clock,
        events=events,
        tiers=tiers,
        grace_period_days=settings.grace_period_days,
        renewal_lead_days=settings.renewal_lead_days,
    )
    overage = OveragePricing(
        included_ticks=settings.enterprise_included_ticks,
        idr_per_million_ticks=settings.enterprise_overage_idr_per_million_ticks,
        included_api_calls=settings.enterprise_included_api_calls,
        idr_per_million_api_calls=settings.enterprise_overage_idr_per_million_api_calls,
    )
    invoices = InvoiceService(clock=clock, bus=bus)
    midtrans = MidtransClient(settings, http)
    audit = AuditTrail(clock)
    prices = PlanPriceService(clock=clock, audit=audit)
    orders = OrderService(
        clock=clock,
        customer_of=customer_of,
        ppn_rate_percent=settings.ppn_rate_percent,
        finish_url=settings.finish_url,
        prices=prices,
    )
    cards = CardSubscriptionService(clock=clock)
    notifications = NotificationService(
        clock=clock,
        bus=bus,
        server_key=settings.server_key.get_secret_value(),
        subscriptions=subscriptions,
        invoices=invoices,
        cards=cards,
    )
    return BillingService(
        settings=settings,
        midtrans=midtrans,
        orders=orders,
        notifications=notifications,
        subscriptions=subscriptions,
        lifecycle=lifecycle,
        renewals=RenewalService(
            clock=clock,
            bus=bus,
            orders=orders,
            lead=timedelta(days=settings.renewal_lead_days),
            usage=usage,
            overage=overage,
        ),
        invoices=invoices,
        coupons=CouponService(),
        grants=GrantService(clock=clock, bus=bus, tiers=tiers, audit=audit),
        refunds=RefundService(
            database=database,
            midtrans=midtrans,
            orders=orders,
            notifications=notifications,
            audit=audit,
        ),
        audit=audit,
        prices=prices,
        reports=AdminReports(clock, prices=prices),
        usage=UsageReporter(clock=clock, usage=usage, overage=overage),
        cards=cards,
    )
