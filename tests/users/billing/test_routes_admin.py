"""``GET /api/v1/admin/billing/orders``: every tenant's orders, for superadmins."""

from __future__ import annotations

from tests.users.billing.conftest import BillingHarness


class TestAdminOrders:
    async def test_superadmin_lists_orders_of_every_tenant_by_status(
        self, billing: BillingHarness
    ) -> None:
        alice = await billing.users.signup("a@example.com")
        bob = await billing.users.signup("b@example.com")
        paid = await billing.pay(alice)
        pending = await billing.order_id(bob, "enterprise")
        root = await billing.users.signup("ops@example.com")
        await billing.users.make_superadmin("ops@example.com")

        every = await billing.client.get("/api/v1/admin/billing/orders", headers=root.headers)
        only_pending = await billing.client.get(
            "/api/v1/admin/billing/orders", params={"status": "pending"}, headers=root.headers
        )

        assert {o["order_id"] for o in every.json()["items"]} == {paid, pending}
        assert [o["order_id"] for o in only_pending.json()["items"]] == [pending]
        assert "snap_token" not in only_pending.json()["items"][0]

    async def test_unknown_status_and_non_superadmins_are_refused(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("c@example.com")
        refused = await billing.client.get("/api/v1/admin/billing/orders", headers=owner.headers)
        assert refused.status_code == 403
        root = await billing.users.signup("ops2@example.com")
        await billing.users.make_superadmin("ops2@example.com")
        bad = await billing.client.get(
            "/api/v1/admin/billing/orders", params={"status": "lost"}, headers=root.headers
        )
        assert bad.status_code == 422
