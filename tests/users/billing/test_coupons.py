"""Coupons: percentage or fixed, per plan, expiry and maximum redemptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import Account, error_code


async def superadmin(billing: BillingHarness) -> Account:
    root = await billing.users.signup("coupons-root@example.com")
    await billing.users.make_superadmin("coupons-root@example.com")
    return root


async def create_coupon(billing: BillingHarness, root: Account, **terms: Any) -> Any:
    return await billing.client.post(
        "/api/v1/admin/billing/coupons", json=terms, headers=root.headers
    )


class TestCoupons:
    async def test_percent_coupon_discounts_before_tax(self, billing: BillingHarness) -> None:
        root = await superadmin(billing)
        created = await create_coupon(billing, root, code="launch20", kind="percent", value=20)
        assert created.status_code == 201 and created.json()["code"] == "LAUNCH20"
        owner = await billing.users.signup("c1@example.com")

        response = await billing.checkout(owner, "pro", "monthly", coupon="launch20")

        assert response.status_code == 201, response.text
        # 299,000 - 59,800 = 239,200; PPN 26,312; total 265,512
        assert response.json()["gross_amount_idr"] == 265_512
        items = billing.peer.snap_requests[-1]["item_details"]
        assert [i["price"] for i in items] == [299_000, -59_800, 26_312]

    async def test_fixed_coupon_for_another_plan_is_refused(self, billing: BillingHarness) -> None:
        root = await superadmin(billing)
        await create_coupon(
            billing, root, code="ENT100K", kind="fixed", value=100_000, plans=["enterprise"]
        )
        owner = await billing.users.signup("c2@example.com")
        refused = await billing.checkout(owner, "pro", "monthly", coupon="ENT100K")
        assert refused.status_code == 422 and error_code(refused) == "invalid_coupon"
        accepted = await billing.checkout(owner, "enterprise", "monthly", coupon="ENT100K")
        assert accepted.status_code == 201

    async def test_expired_and_used_up_coupons_are_refused(self, billing: BillingHarness) -> None:
        root = await superadmin(billing)
        expires = billing.users.clock.now() + timedelta(days=1)
        await create_coupon(billing, root, code="ONCE", kind="percent", value=10, max_redemptions=1)
        await create_coupon(
            billing, root, code="SOON", kind="percent", value=10, expires_at=expires.isoformat()
        )
        owner = await billing.users.signup("c3@example.com")
        assert (await billing.checkout(owner, coupon="ONCE")).status_code == 201
        used_up = await billing.checkout(owner, coupon="ONCE")
        assert used_up.status_code == 422 and "none are left" in used_up.json()["error"]["message"]
        await billing.advance_days(2, owner)
        expired = await billing.checkout(owner, coupon="SOON")
        assert expired.status_code == 422 and "expired" in expired.json()["error"]["message"]

    async def test_a_failed_snap_call_gives_the_redemption_back(
        self, billing: BillingHarness
    ) -> None:
        root = await superadmin(billing)
        await create_coupon(
            billing, root, code="RETRY", kind="percent", value=10, max_redemptions=1
        )
        owner = await billing.users.signup("c4@example.com")
        billing.peer.snap_failure_status = 503
        assert (await billing.checkout(owner, coupon="RETRY")).status_code == 502
        billing.peer.snap_failure_status = None
        assert (await billing.checkout(owner, coupon="RETRY")).status_code == 201

    async def test_a_coupon_covering_the_whole_price_is_refused(
        self, billing: BillingHarness
    ) -> None:
        root = await superadmin(billing)
        await create_coupon(billing, root, code="FREEBIE", kind="percent", value=100)
        owner = await billing.users.signup("c5@example.com")
        response = await billing.checkout(owner, coupon="FREEBIE")
        assert response.status_code == 422 and error_code(response) == "invalid_coupon"

    async def test_duplicate_code_and_unknown_plan_are_refused(
        self, billing: BillingHarness
    ) -> None:
        root = await superadmin(billing)
        await create_coupon(billing, root, code="DUP", kind="fixed", value=1000)
        again = await create_coupon(billing, root, code="dup", kind="fixed", value=1000)
        assert again.status_code == 409 and error_code(again) == "coupon_exists"
        bad = await create_coupon(
            billing, root, code="BAD", kind="percent", value=10, plans=["platinum"]
        )
        assert bad.status_code == 422 and error_code(bad) == "invalid_coupon_terms"


class TestOncePerTenant:
    async def test_a_tenant_redeems_a_coupon_once_and_another_tenant_still_can(
        self, billing: BillingHarness
    ) -> None:
        root = await superadmin(billing)
        await create_coupon(billing, root, code="WELCOME", kind="percent", value=10)
        alice = await billing.users.signup("once-a@example.com")
        bob = await billing.users.signup("once-b@example.com")

        first = await billing.checkout(alice, "pro", "monthly", coupon="welcome")
        again = await billing.checkout(alice, "pro", "yearly", coupon="welcome")
        other = await billing.checkout(bob, "pro", "monthly", coupon="welcome")

        assert first.status_code == 201 and other.status_code == 201
        assert again.status_code == 422 and error_code(again) == "invalid_coupon"
        assert "redeemed" in again.json()["error"]["message"]

    async def test_a_checkout_that_never_reached_midtrans_gives_the_coupon_back(
        self, billing: BillingHarness
    ) -> None:
        root = await superadmin(billing)
        await create_coupon(billing, root, code="RETRY", kind="fixed", value=1_000)
        owner = await billing.users.signup("retry@example.com")
        billing.peer.snap_failure_status = 500
        assert (await billing.checkout(owner, coupon="retry")).status_code == 502
        billing.peer.snap_failure_status = None
        assert (await billing.checkout(owner, coupon="retry")).status_code == 201
