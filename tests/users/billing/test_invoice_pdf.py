"""``GET /api/v1/billing/invoices/{id}.pdf``: the invoice as a PDF, read back with pypdf."""

from __future__ import annotations

import io

from pypdf import PdfReader

from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import error_code


def pdf_text(document: bytes) -> str:
    reader = PdfReader(io.BytesIO(document))
    return "\n".join(page.extract_text() for page in reader.pages)


class TestInvoicePdf:
    async def test_the_pdf_carries_the_number_lines_tax_and_totals(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("pdf@example.com")
        await billing.users.client.patch(
            "/api/v1/users/me", json={"name": "Budi Łukasz"}, headers=owner.headers
        )
        await billing.pay(owner, "enterprise", "monthly")
        [invoice] = await billing.invoices(owner)

        response = await billing.client.get(
            f"/api/v1/billing/invoices/{invoice['id']}.pdf", headers=owner.headers
        )

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        disposition = response.headers["content-disposition"]
        assert f'filename="{invoice["invoice_number"]}.pdf"' in disposition
        text = pdf_text(response.content)
        assert invoice["invoice_number"] in text and invoice["order_id"] in text
        assert "ChainFlow" in text and "Status: Paid" in text
        assert owner.tenant_id in text and "pdf@example.com" in text
        assert "Budi ?ukasz" in text  # outside Latin-1: replaced, not an error
        assert "ChainFlow Enterprise (monthly)" in text
        assert "Rp 2.499.000" in text  # the plan line and the subtotal
        assert "PPN 11%" in text and "Rp 274.890" in text
        assert "Total (IDR)" in text and "Rp 2.773.890" in text

    async def test_two_renders_are_the_same_bytes(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("same@example.com")
        await billing.pay(owner)
        [invoice] = await billing.invoices(owner)
        path = f"/api/v1/billing/invoices/{invoice['id']}.pdf"

        first = await billing.client.get(path, headers=owner.headers)
        billing.users.advance(120)
        second = await billing.client.get(path, headers=owner.headers)

        assert first.status_code == second.status_code == 200
        assert first.content.startswith(b"%PDF-")
        assert first.content == second.content

    async def test_a_discount_prints_as_a_negative_amount(self, billing: BillingHarness) -> None:
        admin = await billing.users.signup("pdf-admin@example.com")
        await billing.users.make_superadmin(admin.email)
        created = await billing.client.post(
            "/api/v1/admin/billing/coupons",
            json={"code": "HALF", "kind": "percent", "value": 50},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        owner = await billing.users.signup("pdf-coupon@example.com")
        checkout = await billing.checkout(owner, coupon="HALF")
        await billing.notify(checkout.json()["order_id"], "settlement")
        [invoice] = await billing.invoices(owner)

        response = await billing.client.get(
            f"/api/v1/billing/invoices/{invoice['id']}.pdf", headers=owner.headers
        )

        text = pdf_text(response.content)
        assert "-Rp 149.500" in text  # half of 299,000
        assert "Rp 16.445" in text and "Rp 165.945" in text  # PPN 11% of 149,500, half up

    async def test_another_tenants_invoice_pdf_is_not_found(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("pdf-mine@example.com")
        stranger = await billing.users.signup("pdf-stranger@example.com")
        await billing.pay(owner)
        [invoice] = await billing.invoices(owner)

        response = await billing.client.get(
            f"/api/v1/billing/invoices/{invoice['id']}.pdf", headers=stranger.headers
        )

        assert response.status_code == 404 and error_code(response) == "invoice_not_found"
