"""``POST /api/v1/billing/checkout``: the order, the Snap call and its failure."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.database import sqlite_database
from tests.users.billing.conftest import BillingHarness, billing_harness
from tests.users.conftest import bearer, error_code


class TestCheckout:
    async def test_checkout_creates_an_order_and_a_snap_transaction(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("owner@example.com")
        response = await billing.checkout(owner, "pro", "monthly")

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["order_id"].startswith("CF-") and len(body["order_id"]) <= 50
        assert body["token"] and body["redirect_url"].startswith(billing.peer.snap_url)
        [sent] = billing.peer.snap_requests
        details = sent["transaction_details"]
        assert details["order_id"] == body["order_id"]
        # 299,000 + 11% PPN (32,890) = 331,890, an integer equal to the sum of the items.
        assert details["gross_amount"] == 331_890 == body["gross_amount_idr"]
        assert sum(i["price"] * i["quantity"] for i in sent["item_details"]) == 331_890
        assert [i["id"] for i in sent["item_details"]] == ["pro-monthly", "ppn"]
        assert sent["customer_details"]["email"] == "owner@example.com"
        order = await billing.order(owner, body["order_id"])
        assert order["status"] == "pending" and order["tax_idr"] == 32_890

    async def test_snap_is_called_with_the_server_key_as_basic_auth_user(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("auth@example.com")
        assert (await billing.checkout(owner)).status_code == 201
        assert billing.peer.rejected_auth == 0  # the peer refuses any other credentials

    async def test_a_wrong_server_key_is_refused_and_answers_502(self, tmp_path: Path) -> None:
        async with billing_harness(sqlite_database(tmp_path), server_key="wrong") as harness:
            owner = await harness.users.signup("wrong@example.com")
            response = await harness.checkout(owner)
            assert response.status_code == 502 and error_code(response) == "payment_gateway_error"
            assert "wrong" not in response.text
            assert harness.peer.rejected_auth == 1

    async def test_snap_failure_answers_502_and_leaves_the_order_failed(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("fail@example.com")
        billing.peer.snap_failure_status = 500

        response = await billing.checkout(owner, "enterprise", "yearly")

        assert response.status_code == 502 and error_code(response) == "payment_gateway_error"
        orders = (await billing.client.get("/api/v1/billing/orders", headers=owner.headers)).json()
        [order] = orders["items"]
        assert order["status"] == "failed" and "500" in order["failure_reason"]
        assert (await billing.me(owner))["tier"] == "free"

    async def test_yearly_enterprise_price_and_tax(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("ent@example.com")
        response = await billing.checkout(owner, "enterprise", "yearly")
        # 24,990,000 + 11% = 27,738,900
        assert response.json()["gross_amount_idr"] == 27_738_900

    async def test_free_plan_and_unknown_plan_or_period_are_refused(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("free@example.com")
        free = await billing.checkout(owner, "free", "monthly")
        assert free.status_code == 422 and error_code(free) == "plan_not_purchasable"
        unknown = await billing.checkout(owner, "platinum", "monthly")
        assert unknown.status_code == 422 and error_code(unknown) == "invalid_plan"
        weekly = await billing.checkout(owner, "pro", "weekly")
        assert weekly.status_code == 422 and error_code(weekly) == "invalid_period"
        assert billing.peer.snap_requests == []

    async def test_an_api_key_cannot_check_out(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("key@example.com")
        created = await billing.client.post(
            "/api/v1/api-keys",
            json={"name": "mt5", "scopes": ["read", "trade"]},
            headers=owner.headers,
        )
        key = created.json()["key"]
        response = await billing.client.post(
            "/api/v1/billing/checkout",
            json={"plan": "pro", "period": "monthly"},
            headers=bearer(key),
        )
        assert response.status_code == 403 and error_code(response) == "permission_denied"

    async def test_checkout_needs_a_signed_in_caller(self, billing: BillingHarness) -> None:
        response = await billing.client.post(
            "/api/v1/billing/checkout", json={"plan": "pro", "period": "monthly"}
        )
        assert response.status_code == 401


class TestPlans:
    async def test_plans_are_listed_in_rupiah_with_usd_for_display(
        self, billing: BillingHarness
    ) -> None:
        body = (await billing.client.get("/api/v1/billing/plans")).json()
        plans = {item["plan"]: item for item in body["items"]}
        assert body["currency"] == "IDR" and body["ppn_rate_percent"] == "11"
        assert plans["pro"]["tier"] == "pro"
        assert plans["pro"]["prices"]["monthly"] == {"idr": 299_000, "usd_display": "18.69"}
        assert plans["free"]["prices"]["yearly"]["idr"] == 0
