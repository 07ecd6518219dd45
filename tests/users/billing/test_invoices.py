"""Invoices: one per paid order, gap-free numbers per tenant, the PPN line, JSON and HTML."""

from __future__ import annotations

from decimal import Decimal

from chainflow.users.billing.pricing import tax_of
from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import error_code


class TestInvoices:
    async def test_a_paid_order_gets_an_invoice_with_the_right_totals_and_tax(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("inv@example.com")
        order_id = await billing.pay(owner, "enterprise", "monthly")

        [invoice] = await billing.invoices(owner)

        assert invoice["order_id"] == order_id and invoice["number"] == 1
        assert invoice["currency"] == "IDR" and invoice["tax_rate_percent"] == "11"
        assert invoice["subtotal_idr"] == 2_499_000 and invoice["discount_idr"] == 0
        assert invoice["tax_idr"] == 274_890  # 11% of 2,499,000
        assert invoice["total_idr"] == 2_773_890
        assert sum(line["amount_idr"] for line in invoice["lines"]) == invoice["total_idr"]
        assert invoice["lines"][-1]["description"] == "PPN 11%"
        assert invoice["customer_email"] == "inv@example.com"

    async def test_numbers_are_per_tenant_and_without_gaps(self, billing: BillingHarness) -> None:
        alice = await billing.users.signup("alice@example.com")
        bob = await billing.users.signup("bob@example.com")
        await billing.pay(alice)
        unpaid = await billing.order_id(alice)
        await billing.notify(unpaid, "expire")
        await billing.pay(bob)
        await billing.pay(alice, "pro", "yearly")

        assert [i["number"] for i in await billing.invoices(alice)] == [2, 1]
        assert [i["number"] for i in await billing.invoices(bob)] == [1]
        numbers = [i["invoice_number"] for i in await billing.invoices(alice)]
        assert numbers[0].endswith("-000002") and numbers[1].endswith("-000001")

    async def test_one_invoice_as_json_and_as_html(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("html@example.com")
        await billing.users.client.patch(
            "/api/v1/users/me", json={"name": "<b>Budi</b>"}, headers=owner.headers
        )
        await billing.pay(owner)
        [listed] = await billing.invoices(owner)
        path = f"/api/v1/billing/invoices/{listed['id']}"

        as_json = await billing.client.get(path, headers=owner.headers)
        as_html = await billing.client.get(path, params={"format": "html"}, headers=owner.headers)

        assert as_json.json() == listed
        assert as_html.headers["content-type"].startswith("text/html")
        assert listed["invoice_number"] in as_html.text
        assert "Rp 331.890" in as_html.text and "PPN 11%" in as_html.text
        assert "&lt;b&gt;Budi&lt;/b&gt;" in as_html.text  # escaped

    async def test_another_tenants_invoice_is_not_found(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("mine@example.com")
        stranger = await billing.users.signup("stranger@example.com")
        await billing.pay(owner)
        [invoice] = await billing.invoices(owner)
        response = await billing.client.get(
            f"/api/v1/billing/invoices/{invoice['id']}", headers=stranger.headers
        )
        assert response.status_code == 404 and error_code(response) == "invoice_not_found"


class TestTax:
    def test_ppn_rounds_half_up_to_the_rupiah(self) -> None:
        assert tax_of(299_000, Decimal("11")) == 32_890
        assert tax_of(5, Decimal("11")) == 1  # 0.55 -> 1
        assert tax_of(4, Decimal("11")) == 0  # 0.44 -> 0
        assert tax_of(299_000, Decimal("0")) == 0
