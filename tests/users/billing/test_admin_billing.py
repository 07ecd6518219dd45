"""Superadmin billing: subscriptions, problem payments, MRR inputs, manual tier grants that
the expiry sweep keeps, refunds through the Midtrans look-alike, and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import Account, error_code

ADMIN = "/api/v1/admin/billing"


async def root_of(billing: BillingHarness) -> Account:
    root = await billing.users.signup("billing-root@example.com")
    await billing.users.make_superadmin("billing-root@example.com")
    return root


async def get(billing: BillingHarness, root: Account, path: str, **params: Any) -> Any:
    response = await billing.client.get(ADMIN + path, params=params, headers=root.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestViews:
    async def test_subscriptions_payments_and_mrr(self, billing: BillingHarness) -> None:
        alice = await billing.users.signup("alice@example.com")
        bob = await billing.users.signup("bob@example.com")
        carol = await billing.users.signup("carol@example.com")
        await billing.pay(alice, "pro", "monthly")
        await billing.pay(bob, "enterprise", "yearly")
        pending = await billing.order_id(carol, "pro", "monthly")
        denied = await billing.order_id(carol, "enterprise", "monthly")
        await billing.notify(denied, "deny")
        root = await root_of(billing)

        active = await get(billing, root, "/subscriptions", status="active")
        failed = await get(billing, root, "/payments", group="failed")
        waiting = await get(billing, root, "/payments", group="pending")
        mrr = await get(billing, root, "/mrr")

        assert {i["tenant_id"] for i in active["items"]} == {alice.tenant_id, bob.tenant_id}
        assert [o["order_id"] for o in failed["items"]] == [denied]
        assert [o["order_id"] for o in waiting["items"]] == [pending]
        lines = {(line["plan"], line["period"]): line for line in mrr["lines"]}
        assert lines[("pro", "monthly")]["monthly_idr"] == 299_000
        assert lines[("enterprise", "yearly")]["monthly_idr"] == 24_990_000 // 12  # 2,082,500
        assert mrr["mrr_idr"] == 299_000 + 2_082_500
        assert mrr["by_status"] == {"active": 2} and mrr["manual_grants"] == 0

    async def test_the_views_are_for_superadmins(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("nosy@example.com")
        for path in ("/subscriptions", "/payments?group=failed", "/mrr", "/audit"):
            response = await billing.client.get(ADMIN + path, headers=owner.headers)
            assert response.status_code == 403, path


class TestGrants:
    async def test_a_grant_survives_the_expiry_of_the_subscription(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("granted@example.com")
        await billing.pay(owner, "pro", "monthly")
        root = await root_of(billing)
        granted = await billing.client.post(
            ADMIN + "/grants",
            json={"tenant_id": owner.tenant_id, "tier": "enterprise", "reason": "partner deal"},
            headers=root.headers,
        )
        assert granted.status_code == 201, granted.text
        assert granted.json()["effective_tier"] == "enterprise"
        assert (await billing.me(owner))["tier"] == "enterprise"

        await billing.advance_days(40, owner, root)  # past the period end and the grace
        await billing.sweep()
        await billing.sweep()

        assert (await billing.subscription(owner))["status"] == "expired"
        assert (await billing.me(owner))["tier"] == "enterprise"
        revoked = await billing.client.post(
            ADMIN + f"/grants/{owner.tenant_id}/revoke",
            json={"reason": "deal ended"},
            headers=root.headers,
        )
        assert revoked.json()["effective_tier"] == "free"
        assert (await billing.me(owner))["tier"] == "free"
        audit = await get(billing, root, "/audit", tenant_id=owner.tenant_id)
        actions = [(e["action"], e["reason"], e["actor_user_id"]) for e in audit["items"]]
        assert actions == [
            ("revoke_tier_grant", "deal ended", root.user_id),
            ("grant_tier", "partner deal", root.user_id),
        ]

    async def test_a_grant_with_an_end_is_removed_by_the_sweep(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("until@example.com")
        root = await root_of(billing)
        until = billing.users.clock.now() + timedelta(days=1)
        response = await billing.client.post(
            ADMIN + "/grants",
            json={
                "tenant_id": owner.tenant_id,
                "tier": "pro",
                "until": until.isoformat(),
                "reason": "one-day pass",
            },
            headers=root.headers,
        )
        assert response.status_code == 201, response.text
        assert (await billing.me(owner))["tier"] == "pro"
        await billing.advance_days(2, owner)
        assert (await billing.sweep()).visited == 1
        assert (await billing.me(owner))["tier"] == "free"

    async def test_a_tier_set_by_hand_outside_billing_is_not_lowered_by_the_sweep(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("byhand@example.com")
        await billing.pay(owner, "pro", "monthly")
        root = await root_of(billing)
        assert (await billing.users.set_tier(root, owner.tenant_id, "enterprise")).is_success
        await billing.advance_days(40, owner, root)
        await billing.sweep()
        await billing.sweep()
        assert (await billing.subscription(owner))["status"] == "expired"
        assert (await billing.me(owner))["tier"] == "enterprise"


class TestRefunds:
    async def test_a_full_refund_takes_the_plan_back_and_is_audited(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("refund@example.com")
        order_id = await billing.pay(owner, "pro", "monthly")
        root = await root_of(billing)

        response = await billing.client.post(
            ADMIN + f"/orders/{order_id}/refund",
            json={"reason": "charged twice"},
            headers=root.headers,
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "order_id": order_id,
            "tenant_id": owner.tenant_id,
            "amount_idr": 331_890,
            "status": "refunded",
        }
        [sent] = billing.peer.refund_requests
        assert sent["amount"] == 331_890 and sent["reason"] == "charged twice"
        assert (await billing.me(owner))["tier"] == "free"
        late = await billing.notify(order_id, "refund")  # Midtrans's own notification
        assert late.json()["changed"] is False
        [entry] = (await get(billing, root, "/audit"))["items"]
        assert entry["action"] == "refund" and entry["order_id"] == order_id

    async def test_a_partial_refund_keeps_the_plan_and_too_much_is_refused(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("partial@example.com")
        order_id = await billing.pay(owner, "pro", "monthly")
        root = await root_of(billing)
        path = ADMIN + f"/orders/{order_id}/refund"

        partial = await billing.client.post(
            path, json={"amount_idr": 100_000, "reason": "goodwill"}, headers=root.headers
        )
        too_much = await billing.client.post(
            path, json={"amount_idr": 331_891, "reason": "typo"}, headers=root.headers
        )

        assert partial.json()["status"] == "partially_refunded"
        assert (await billing.me(owner))["tier"] == "pro"
        assert too_much.status_code == 409 and error_code(too_much) == "refund_refused"

    async def test_an_unpaid_order_is_not_refunded(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("unpaid-refund@example.com")
        order_id = await billing.order_id(owner)
        root = await root_of(billing)
        response = await billing.client.post(
            ADMIN + f"/orders/{order_id}/refund", json={"reason": "oops"}, headers=root.headers
        )
        assert response.status_code == 409 and error_code(response) == "refund_refused"
        assert billing.peer.refund_requests == []
