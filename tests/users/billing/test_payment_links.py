"""Renewals paid through Midtrans Payment Links: the link the sweep creates, its URL in the
reminder, and the payment's notification (a purchase id with a suffix) through the webhook."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from chainflow.core.settings import BillingSettings
from chainflow.users.billing.payment_links import stored_order_id
from tests.fixtures.database import sqlite_database
from tests.users.billing.conftest import GRACE_DAYS, BillingHarness, billing_harness
from tests.users.billing.midtrans_peer import payment_link_problems
from tests.users.conftest import Account

LEAD_DAYS = 7  # BillingSettings.renewal_lead_days


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def renewal_of(billing: BillingHarness, owner: Account) -> str:
    """Pay Pro monthly, move to 7 days before the period end, sweep; return the renewal."""
    await billing.pay(owner, "pro", "monthly")
    await billing.advance_days(23, owner)
    return (await billing.sweep()).renewals[owner.tenant_id]


class TestRenewalLink:
    async def test_the_sweep_creates_a_payment_link_and_announces_its_url(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("link@example.com")
        order_id = await renewal_of(billing, owner)

        [sent] = billing.peer.payment_link_requests
        assert sent["transaction_details"] == {"order_id": order_id, "gross_amount": 331_890}
        assert sum(i["price"] * i["quantity"] for i in sent["item_details"]) == 331_890
        assert sent["customer_details"]["email"] == "link@example.com"
        assert sent["usage_limit"] == 1
        expiry = sent["expiry"]
        assert (expiry["duration"], expiry["unit"]) == (LEAD_DAYS + GRACE_DAYS, "days")
        assert re.fullmatch(r"2025-07-08 \d{2}:\d{2} \+0700", expiry["start_time"])
        order = await billing.order(owner, order_id)
        link = billing.peer.payment_links[order_id]
        assert order["status"] == "pending"
        assert order["redirect_url"] == f"{billing.peer.payment_page_url}/{link.link_id}"
        event = await billing.users.event("users.billing.renewal_due", order_id=order_id)
        assert event["redirect_url"] == order["redirect_url"]
        assert billing.peer.snap_requests[-1]["transaction_details"]["order_id"] != order_id

    async def test_paying_the_link_renews_the_subscription_through_the_webhook(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner = await billing.users.signup("linkpay@example.com")
        order_id = await renewal_of(billing, owner)
        end = at((await billing.subscription(owner))["current_period_end"])

        response = await billing.notify(order_id, "settlement")

        purchase = billing.peer.payment_links[order_id].purchase_order_id
        assert purchase is not None and purchase.startswith(f"{order_id}-")
        assert billing.peer.status_requests[-1] == purchase  # confirmed as notified
        assert response.status_code == 200, response.text
        assert response.json() == {"order_id": order_id, "status": "paid", "changed": True}
        subscription = await billing.subscription(owner)
        assert at(subscription["current_period_end"]) == end.replace(month=end.month + 1)
        [renewal_invoice, _first] = await billing.invoices(owner)
        assert renewal_invoice["order_id"] == order_id
        assert renewal_invoice["total_idr"] == 331_890

    async def test_a_late_pending_or_a_repeat_changes_nothing(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("linklate@example.com")
        order_id = await renewal_of(billing, owner)
        await billing.notify(order_id, "settlement")
        end = (await billing.subscription(owner))["current_period_end"]

        repeat = await billing.notify(order_id, "settlement")
        late = await billing.peer.deliver(billing.client, order_id, "pending", confirm=False)

        assert repeat.json()["changed"] is False and late.json()["changed"] is False
        assert (await billing.order(owner, order_id))["status"] == "paid"
        assert (await billing.subscription(owner))["current_period_end"] == end
        assert len(await billing.invoices(owner)) == 2

    async def test_an_expired_link_leaves_the_subscription_to_its_grace_period(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("linkexpire@example.com")
        order_id = await renewal_of(billing, owner)

        response = await billing.notify(order_id, "expire")

        assert response.json()["status"] == "expired"
        event = await billing.users.event("users.billing.payment_failed", order_id=order_id)
        assert event["kind"] == "renewal"
        await billing.advance_days(8, owner)  # one day past the period end
        await billing.sweep()
        assert (await billing.subscription(owner))["status"] == "past_due"

    async def test_the_renewal_is_priced_at_the_override_in_force(
        self, billing: BillingHarness
    ) -> None:
        admin = await billing.users.signup("link-root@example.com")
        await billing.users.make_superadmin(admin.email)
        owner = await billing.users.signup("linkprice@example.com")
        await billing.pay(owner, "pro", "monthly")
        response = await billing.client.put(
            "/api/v1/admin/billing/plans/pro/monthly/price",
            json={"price_idr": 249_000, "reason": "new price list"},
            headers=admin.headers,
        )
        assert response.status_code == 200, response.text
        await billing.advance_days(23, owner)

        order_id = (await billing.sweep()).renewals[owner.tenant_id]

        items = {i["id"]: i["price"] for i in billing.peer.sent(order_id)["item_details"]}
        assert items == {"pro-monthly": 249_000, "ppn": 27_390}
        assert (await billing.order(owner, order_id))["gross_amount_idr"] == 276_390


def snap_renewals(settings: BillingSettings) -> BillingSettings:
    return settings.model_copy(update={"renewal_payment": "snap"})


@pytest.fixture
async def snap_billing(tmp_path: Path) -> AsyncIterator[BillingHarness]:
    async with billing_harness(sqlite_database(tmp_path), configure=snap_renewals) as harness:
        yield harness


class TestSnapRenewals:
    async def test_renewals_can_still_use_snap_pages(self, snap_billing: BillingHarness) -> None:
        owner = await snap_billing.users.signup("snaprenew@example.com")
        order_id = await renewal_of(snap_billing, owner)

        assert snap_billing.peer.payment_link_requests == []
        order = await snap_billing.order(owner, order_id)
        assert order["redirect_url"].startswith(snap_billing.peer.snap_url)
        assert (await snap_billing.notify(order_id, "settlement")).json()["status"] == "paid"


class TestStoredOrderId:
    def test_a_purchase_id_maps_to_its_links_order(self) -> None:
        order_id = "CF-" + "0123456789abcdef" * 2
        assert stored_order_id(f"{order_id}-1658897316") == order_id
        assert stored_order_id(f"{order_id}-1658897316-1658897332986") == order_id
        assert stored_order_id(order_id) == order_id

    def test_other_ids_are_kept_as_they_are(self) -> None:
        assert stored_order_id("CF-short-1658897316") == "CF-short-1658897316"
        assert stored_order_id("CF-" + "a" * 32 + "-x1") == "CF-" + "a" * 32 + "-x1"


class TestPeerValidation:
    def test_the_look_alike_refuses_what_midtrans_refuses(self) -> None:
        body = {
            "transaction_details": {"order_id": "CF-1", "gross_amount": 100},
            "item_details": [{"id": "a", "name": "A", "price": 90, "quantity": 1}],
            "expiry": {"start_time": "2025-07-08T10:00", "duration": 0, "unit": "weeks"},
        }
        problems = payment_link_problems(body)
        assert len(problems) == 4
        assert payment_link_problems({"transaction_details": {}}) == [
            "transaction_details.order_id is required"
        ]
