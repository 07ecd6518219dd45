"""Routes of ``/api/v1/billing`` (the superadmin's ``/api/v1/admin/billing`` are in
``admin_routes``). Thin: authorise, open the
unit of work, call the service, shape the answer; no transaction spans a Midtrans call.

Checkout and billing reads need ``tenant:manage`` (a tenant's owner or admin, signed in;
API keys never hold it). The notification route has no auth: Midtrans calls it, and the
signature plus the Core API's confirmation stand in for it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from chainflow.core.auth import Permission, Principal
from chainflow.core.clock import Clock
from chainflow.gateway.api import require_permission
from chainflow.storage.relational import Database
from chainflow.users.billing.admin_routes import build_billing_admin_router
from chainflow.users.billing.card_sync import stop_stale_quietly
from chainflow.users.billing.errors import InvalidNotificationError, PaymentGatewayError
from chainflow.users.billing.invoice_html import (
    invoice_content_security_policy,
    render_invoice_html,
)
from chainflow.users.billing.invoice_pdf import pdf_filename, render_invoice_pdf
from chainflow.users.billing.plans import Period, Plan, usd_cents
from chainflow.users.billing.pricing import rate_text
from chainflow.users.billing.schemas import (
    AutoRenewIn,
    CheckoutCreate,
    CheckoutOut,
    DowngradeIn,
    InvoiceOut,
    InvoicesOut,
    NotificationAck,
    OrderOut,
    OrdersOut,
    PlanOut,
    PlanPrice,
    PlansOut,
    SubscriptionOut,
    TrialIn,
    UsageOut,
)
from chainflow.users.billing.service import BillingService

BillingManager = Annotated[Principal, Depends(require_permission(Permission.TENANT_MANAGE))]
PDF_MEDIA_TYPE = "application/pdf"
BillingReader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]


class InvoiceFormat(StrEnum):
    JSON = "json"
    HTML = "html"


def _plans_out(billing: BillingService, plans: list[Plan]) -> PlansOut:
    rate = billing.settings.idr_per_usd
    items = []
    for plan in plans:
        prices = {}
        for period in Period:
            idr = plan.price_idr(period)
            cents = usd_cents(idr, rate)
            prices[period.value] = PlanPrice(
                idr=idr, usd_display=f"{cents // 100}.{cents % 100:02d}"
            )
        items.append(PlanOut(plan=plan.code, name=plan.name, tier=plan.tier.value, prices=prices))
    return PlansOut(ppn_rate_percent=rate_text(billing.settings.ppn_rate_percent), items=items)


def build_billing_router(billing: BillingService, database: Database, clock: Clock) -> APIRouter:
    """Return the billing routes, to mount under ``/api/v1``."""
    router = APIRouter(tags=["billing"])

    @router.get("/billing/plans", summary="Plans and prices in force now, in rupiah")
    async def list_plans() -> PlansOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            plans = await billing.prices.effective_plans(uow)
        return _plans_out(billing, plans)

    @router.post(
        "/billing/checkout",
        status_code=status.HTTP_201_CREATED,
        summary="Create an order and its Midtrans Snap payment page",
        responses={502: {"description": "Midtrans refused or failed; the order is failed"}},
    )
    async def create_checkout(body: CheckoutCreate, principal: BillingManager) -> CheckoutOut:
        async with database.unit_of_work(principal.tenant) as uow:
            order, payload = await billing.orders.create(
                uow, principal, body.plan, body.period, body.coupon
            )
        try:
            snap = await billing.midtrans.create_snap_transaction(payload)
        except PaymentGatewayError as e:
            async with database.unit_of_work(principal.tenant) as uow:
                await billing.orders.mark_failed(uow, principal.tenant, order.order_id, e.message)
            raise
        async with database.unit_of_work(principal.tenant) as uow:
            await billing.orders.record_snap(uow, principal.tenant, order.order_id, snap)
        return CheckoutOut(
            order_id=order.order_id,
            token=snap.token,
            redirect_url=snap.redirect_url,
            gross_amount_idr=order.gross_amount_idr,
        )

    @router.post(
        "/billing/midtrans/notification",
        summary="Midtrans payment notification (HTTP notification URL); signed, no auth",
        responses={
            400: {"description": "The body is not a Midtrans notification"},
            403: {"description": "The signature does not match (recorded as a security event)"},
            404: {"description": "No order has this order_id"},
            409: {"description": "Midtrans's confirmed status disagrees with the order"},
            502: {"description": "Midtrans's status API did not answer"},
            503: {"description": "Billing is not configured (no server key)"},
        },
    )
    async def receive_notification(request: Request) -> NotificationAck:
        ip = request.client.host if request.client else None
        try:
            body = await request.json()
        except ValueError as e:
            raise InvalidNotificationError(
                "expected a JSON notification body; received invalid JSON"
            ) from e
        notification = await billing.notifications.verify(body, ip)
        async with database.unit_of_work(system=True, read_only=True) as uow:
            tenant_id = await billing.notifications.tenant_of(uow, notification.order_id)
        confirmed = await billing.midtrans.transaction_status(notification.order_id)
        async with database.unit_of_work(system=True) as uow:
            outcome = await billing.notifications.apply(uow, tenant_id, notification, confirmed, ip)
        if outcome.changed:
            await stop_stale_quietly(database, billing, tenant_id)
        return NotificationAck(
            order_id=outcome.order_id, status=outcome.status, changed=outcome.changed
        )

    @router.get("/billing/orders", summary="The tenant's newest orders")
    async def list_orders(principal: BillingManager) -> OrdersOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            orders = await billing.orders.list_recent(uow, principal.tenant)
        return OrdersOut(items=[OrderOut.model_validate(o, from_attributes=True) for o in orders])

    @router.get("/billing/orders/{order_id}", summary="One of the tenant's orders")
    async def get_order(order_id: str, principal: BillingManager) -> OrderOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            order = await billing.orders.get(uow, principal.tenant, order_id)
        return OrderOut.model_validate(order, from_attributes=True)

    @router.get(
        "/billing/subscription",
        summary="The tenant's subscription",
        responses={404: {"description": "The tenant has never had a paid subscription"}},
    )
    async def get_subscription(principal: BillingReader) -> SubscriptionOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            view = await billing.subscriptions.get(uow, principal.tenant_id)
        return SubscriptionOut.model_validate(view, from_attributes=True)

    @router.post(
        "/billing/subscription/cancel",
        summary="Cancel at the period end: the plan stays until then, then the free tier",
        responses={404: {"description": "The tenant has no subscription to cancel"}},
    )
    async def cancel_subscription(principal: BillingManager) -> SubscriptionOut:
        async with database.unit_of_work(principal.tenant) as uow:
            await billing.subscriptions.cancel(uow, principal.tenant_id)
        return await _after_change(principal)

    @router.get("/billing/invoices", summary="The tenant's invoices, newest first")
    async def list_invoices(principal: BillingManager) -> InvoicesOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            invoices = await billing.invoices.list_invoices(uow, principal.tenant)
        return InvoicesOut(
            items=[InvoiceOut.model_validate(i, from_attributes=True) for i in invoices]
        )

    @router.get(
        "/billing/invoices/{invoice_id}.pdf",
        summary="One invoice as a PDF document",
        response_class=Response,
        responses={
            200: {"content": {PDF_MEDIA_TYPE: {}}},
            404: {"description": "No invoice of the tenant has this id"},
        },
    )
    async def get_invoice_pdf(invoice_id: str, principal: BillingManager) -> Response:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            invoice = await billing.invoices.get(uow, principal.tenant, invoice_id)
        document = render_invoice_pdf(invoice, seller=billing.settings.invoice_seller)
        disposition = f'inline; filename="{pdf_filename(invoice)}"'
        return Response(
            document, media_type=PDF_MEDIA_TYPE, headers={"Content-Disposition": disposition}
        )

    @router.get(
        "/billing/invoices/{invoice_id}",
        summary="One invoice: JSON, or HTML with ?format=html or Accept: text/html",
        response_model=InvoiceOut,
        responses={200: {"content": {"text/html": {}}}},
    )
    async def get_invoice(
        invoice_id: str,
        request: Request,
        principal: BillingManager,
        output_format: Annotated[InvoiceFormat | None, Query(alias="format")] = None,
    ) -> Response | InvoiceOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            invoice = await billing.invoices.get(uow, principal.tenant, invoice_id)
        wants_html = output_format is InvoiceFormat.HTML or (
            output_format is None and "text/html" in request.headers.get("accept", "")
        )
        if wants_html:
            page = render_invoice_html(invoice, seller=billing.settings.invoice_seller)
            policy = {"Content-Security-Policy": invoice_content_security_policy()}
            return Response(page, media_type="text/html; charset=utf-8", headers=policy)
        return InvoiceOut.model_validate(invoice, from_attributes=True)

    @router.post(
        "/billing/trial",
        status_code=status.HTTP_201_CREATED,
        summary="Start the plan's free trial (once per tenant; CHAINFLOW_BILLING_TRIAL_DAYS)",
        responses={409: {"description": "No trial for this plan, or the tenant had one"}},
    )
    async def start_trial(body: TrialIn, principal: BillingManager) -> SubscriptionOut:
        async with database.unit_of_work(principal.tenant) as uow:
            payer = await billing.orders.customer(uow, principal)
            view = await billing.subscriptions.start_trial(
                uow, principal.tenant_id, principal.user_id, payer, body.plan
            )
        return SubscriptionOut.model_validate(view, from_attributes=True)

    @router.post(
        "/billing/subscription/downgrade",
        summary="Switch to a lower plan (or the other period) at the period end",
        responses={404: {"description": "The tenant has no active subscription"}},
    )
    async def downgrade(body: DowngradeIn, principal: BillingManager) -> SubscriptionOut:
        async with database.unit_of_work(principal.tenant) as uow:
            await billing.subscriptions.schedule_downgrade(
                uow, principal.tenant_id, body.plan, body.period
            )
        return await _after_change(principal)

    @router.put(
        "/billing/subscription/auto-renew",
        summary="Renew by charging the card saved at a card payment (a Midtrans subscription)",
        responses={
            404: {"description": "The tenant has no active subscription"},
            409: {"description": "No card was saved at a card payment (no_saved_card)"},
        },
    )
    async def set_auto_renew(body: AutoRenewIn, principal: BillingManager) -> SubscriptionOut:
        async with database.unit_of_work(principal.tenant) as uow:
            await billing.cards.set_auto_renew(uow, principal.tenant_id, body.enabled)
        return await _after_change(principal)

    async def _after_change(principal: Principal) -> SubscriptionOut:
        """Stop a card subscription the change made stale; answer the subscription."""
        await stop_stale_quietly(database, billing, principal.tenant_id)
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            view = await billing.subscriptions.get(uow, principal.tenant_id)
        return SubscriptionOut.model_validate(view, from_attributes=True)

    @router.get("/billing/usage", summary="Metered usage in the current billing period")
    async def get_usage(principal: BillingReader) -> UsageOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            period = await billing.usage.period(uow, principal.tenant)
        view = await billing.usage.report(principal.tenant_id, period)
        return UsageOut.model_validate(view, from_attributes=True)

    router.include_router(build_billing_admin_router(billing, database, clock))
    return router


__all__ = ["build_billing_router"]
