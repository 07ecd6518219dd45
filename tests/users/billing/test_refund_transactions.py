"""Refunds name the transaction as Midtrans knows it: a Payment Link purchase's suffixed
id, or a card subscription's charge, as the webhook stored them; and the MRR inputs count
the prices in force (the plan table with the superadmin's overrides)."""

from __future__ import annotations

from typing import Any

from tests.users.billing.conftest import BillingHarness
from tests.users.billing.test_card_subscriptions import LEAD_DAYS, card_payer, card_renewal
from tests.users.conftest import Account

ADMIN = "/api/v1/admin/billing"


async def root_of(billing: BillingHarness) -> Account:
    root = await billing.users.signup("refund-root@example.com")
    await billing.users.make_superadmin(root.email)
    return root


async def refund(
    billing: BillingHarness, root: Account, order_id: str, amount_idr: int | None = None
) -> Any:
    body: dict[str, Any] = {"reason": "customer asked"}
    if amount_idr is not None:
        body["amount_idr"] = amount_idr
    response = await billing.client.post(
        ADMIN + f"/orders/{order_id}/refund", json=body, headers=root.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestPaymentLinkRefund:
    async def link_paid(self, billing: BillingHarness, email: str) -> tuple[Account, str, str]:
        owner = await billing.users.signup(email)
        await billing.pay(owner, "pro", "monthly")
        await billing.advance_days(23, owner)
        order_id = (await billing.sweep()).renewals[owner.tenant_id]
        await billing.notify(order_id, "settlement")
        purchase = billing.peer.payment_links[order_id].purchase_order_id
        assert purchase is not None and purchase != order_id
        return owner, order_id, purchase

    async def test_the_webhook_stores_the_purchase_id_on_the_order(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner, order_id, purchase = await self.link_paid(billing, "linkid@example.com")

        order = await billing.order(owner, order_id)

        assert order["status"] == "paid" and order["midtrans_order_id"] == purchase

    async def test_a_refund_calls_midtrans_with_the_purchase_id(
        self, billing: BillingHarness
    ) -> None:
        owner, order_id, purchase = await self.link_paid(billing, "linkrefund@example.com")
        end_before = (await billing.subscription(owner))["current_period_end"]
        root = await root_of(billing)

        answer = await refund(billing, root, order_id)

        [sent] = billing.peer.refund_requests
        assert sent["order_id"] == purchase and sent["amount"] == 331_890
        assert answer == {
            "order_id": order_id,
            "tenant_id": owner.tenant_id,
            "amount_idr": 331_890,
            "status": "refunded",
        }
        assert billing.peer.transactions[purchase].transaction_status == "refund"
        assert (await billing.subscription(owner))["current_period_end"] < end_before
        late = await billing.notify(order_id, "refund")  # Midtrans's own notification
        assert late.json() == {"order_id": order_id, "status": "refunded", "changed": False}
        audit = await billing.client.get(ADMIN + "/audit", headers=root.headers)
        [entry] = audit.json()["items"]
        assert entry["details"]["midtrans_order_id"] == purchase

    async def test_a_snap_order_is_still_refunded_by_its_own_id(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("snaprefund@example.com")
        order_id = await billing.pay(owner)
        root = await root_of(billing)

        answer = await refund(billing, root, order_id, 100_000)

        assert billing.peer.refund_requests[-1]["order_id"] == order_id
        assert answer["status"] == "partially_refunded"
        assert (await billing.order(owner, order_id))["midtrans_order_id"] is None


class TestCardChargeRefund:
    async def test_a_refund_calls_midtrans_with_the_charge_id(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "chargerefund@example.com")
        order_id = await card_renewal(billing, owner)
        subscription_id = billing.peer.subscriptions.only().subscription_id
        await billing.advance_days(LEAD_DAYS, owner)
        charge = billing.peer.subscriptions.charge(subscription_id)
        await billing.notify(charge, "capture", "accept")
        root = await root_of(billing)

        answer = await refund(billing, root, order_id, 31_890)

        [sent] = billing.peer.refund_requests
        assert sent["order_id"] == charge and sent["amount"] == 31_890
        assert answer["status"] == "partially_refunded"
        assert billing.peer.transactions[charge].transaction_status == "partial_refund"


class TestMrrEffectivePrices:
    async def test_mrr_counts_the_override_in_force(self, billing: BillingHarness) -> None:
        alice = await billing.users.signup("mrr-alice@example.com")
        bob = await billing.users.signup("mrr-bob@example.com")
        await billing.pay(alice, "pro", "monthly")
        await billing.pay(bob, "enterprise", "yearly")
        root = await root_of(billing)
        for plan, period, price in (("pro", "monthly", 249_000), ("enterprise", "yearly", 1)):
            effective_from = None if price != 1 else "2099-01-01T00:00:00Z"  # not yet in force
            response = await billing.client.put(
                ADMIN + f"/plans/{plan}/{period}/price",
                json={"price_idr": price, "effective_from": effective_from, "reason": "list"},
                headers=root.headers,
            )
            assert response.status_code == 200, response.text

        response = await billing.client.get(ADMIN + "/mrr", headers=root.headers)

        assert response.status_code == 200, response.text
        mrr = response.json()
        lines = {(line["plan"], line["period"]): line for line in mrr["lines"]}
        assert lines[("pro", "monthly")]["list_price_idr"] == 249_000
        assert lines[("pro", "monthly")]["monthly_idr"] == 249_000
        assert lines[("enterprise", "yearly")]["list_price_idr"] == 24_990_000
        assert mrr["mrr_idr"] == 249_000 + 24_990_000 // 12
