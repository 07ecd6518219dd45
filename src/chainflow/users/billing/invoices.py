"""Invoices: one per paid order, numbered per tenant without gaps, with the PPN line.

The number comes from the tenant's counter row, bumped in the same transaction that stores
the invoice (``InvoiceCounterRepository.next_number``): a rolled-back payment gives its
number back, so the sequence 1, 2, 3, ... never skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.errors import InvoiceNotFoundError
from chainflow.users.billing.events import InvoiceIssued, invoice_issued_topic
from chainflow.users.billing.models import BillingOrder, Invoice
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import InvoiceCounterRepository, InvoiceRepository
from chainflow.users.events import publish_after_commit

CURRENCY = "IDR"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    quantity: int
    unit_price_idr: int
    amount_idr: int


@dataclass(frozen=True, slots=True)
class InvoiceView:
    id: str
    tenant_id: str
    number: int
    invoice_number: str
    order_id: str
    plan: str
    period: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal_idr: int
    discount_idr: int
    credit_idr: int
    tax_rate_percent: str
    tax_idr: int
    total_idr: int
    customer_name: str
    customer_email: str
    issued_at: datetime
    period_start: datetime | None
    period_end: datetime | None


def invoice_view(row: Invoice) -> InvoiceView:
    lines = tuple(
        InvoiceLine(
            description=str(line["description"]),
            quantity=int(line["quantity"]),
            unit_price_idr=int(line["unit_price_idr"]),
            amount_idr=int(line["amount_idr"]),
        )
        for line in row.lines
    )
    return InvoiceView(
        id=row.id,
        tenant_id=row.tenant_id,
        number=row.number,
        invoice_number=row.invoice_number,
        order_id=row.order_id,
        plan=row.plan,
        period=row.period,
        currency=row.currency,
        lines=lines,
        subtotal_idr=row.subtotal_idr,
        discount_idr=row.discount_idr,
        credit_idr=row.credit_idr,
        tax_rate_percent=row.tax_rate_percent,
        tax_idr=row.tax_idr,
        total_idr=row.total_idr,
        customer_name=row.customer_name,
        customer_email=row.customer_email,
        issued_at=row.issued_at,
        period_start=row.period_start,
        period_end=row.period_end,
    )


def invoice_number_text(tenant_id: str, number: int) -> str:
    """Return the printed invoice number: the tenant's short id and its sequence number."""
    return f"INV-{tenant_id[:8].upper()}-{number:06d}"


def _lines_of(order: BillingOrder) -> list[dict[str, Any]]:
    return [
        {
            "description": str(item["name"]),
            "quantity": int(item["quantity"]),
            "unit_price_idr": int(item["price"]),
            "amount_idr": int(item["price"]) * int(item["quantity"]),
        }
        for item in order.item_details
    ]


class InvoiceService:
    """Issue and read invoices. Never commits."""

    def __init__(self, *, clock: Clock, bus: EventBus) -> None:
        self._clock = clock
        self._bus = bus

    async def issue(self, uow: UnitOfWork, order: BillingOrder) -> InvoiceView:
        """Issue the invoice of a paid ``order`` (once: a second call returns the first)."""
        tenant = tenant_context_for(order.tenant_id)
        invoices = InvoiceRepository(uow.session, tenant)
        existing = await invoices.by_order_id(order.order_id)
        if existing is not None:
            return invoice_view(existing)
        number = await InvoiceCounterRepository(uow.session, tenant).next_number()
        customer = order.customer_details
        row = Invoice(
            number=number,
            invoice_number=invoice_number_text(order.tenant_id, number),
            order_id=order.order_id,
            plan=order.plan,
            period=order.period,
            currency=CURRENCY,
            lines=_lines_of(order),
            subtotal_idr=order.subtotal_idr,
            discount_idr=order.discount_idr,
            credit_idr=order.credit_idr,
            tax_rate_percent=order.tax_rate_percent,
            tax_idr=order.tax_idr,
            total_idr=order.gross_amount_idr,
            customer_name=str(customer.get("first_name", "")),
            customer_email=str(customer.get("email", "")),
            issued_at=self._clock.now(),
            period_start=order.granted_period_start,
            period_end=order.granted_period_end,
        )
        await invoices.add(row)
        event = InvoiceIssued(
            tenant_id=order.tenant_id,
            invoice_id=row.id,
            invoice_number=row.invoice_number,
            order_id=order.order_id,
            total_idr=row.total_idr,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, invoice_issued_topic(), event)
        return invoice_view(row)

    async def list_invoices(self, uow: UnitOfWork, tenant: TenantContext) -> list[InvoiceView]:
        """Return the tenant's invoices, newest first."""
        rows = await InvoiceRepository(uow.session, tenant).list_all()
        return [invoice_view(row) for row in rows]

    async def get(self, uow: UnitOfWork, tenant: TenantContext, invoice_id: str) -> InvoiceView:
        """Return one of the tenant's invoices; another tenant's is not found."""
        row = await InvoiceRepository(uow.session, tenant).by_id(invoice_id)
        if row is None:
            raise InvoiceNotFoundError(
                f"expected the id of one of the tenant's invoices; received {invoice_id[:64]!r}"
            )
        return invoice_view(row)
