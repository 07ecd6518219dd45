"""Subscriptions over time (simulated clock): renewal, grace period, expiry, cancellation."""

from __future__ import annotations

from datetime import datetime

from tests.users.billing.conftest import GRACE_DAYS, BillingHarness
from tests.users.conftest import error_code


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestRenewal:
    async def test_renewal_continues_from_the_current_period_end(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("renew@example.com")
        await billing.pay(owner, "pro", "monthly")
        first = await billing.subscription(owner)
        await billing.advance_days(20, owner)

        await billing.pay(owner, "pro", "monthly")

        renewed = await billing.subscription(owner)
        start = at(first["current_period_start"])
        assert at(first["current_period_end"]) == start.replace(month=start.month + 1)
        assert at(renewed["current_period_end"]) == start.replace(month=start.month + 2)
        assert renewed["status"] == "active"

    async def test_yearly_period_is_twelve_months(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("year@example.com")
        await billing.pay(owner, "pro", "yearly")
        subscription = await billing.subscription(owner)
        start = at(subscription["current_period_start"])
        assert at(subscription["current_period_end"]) == start.replace(year=start.year + 1)

    async def test_an_upgrade_applies_at_once_and_starts_a_new_period(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("up@example.com")
        await billing.pay(owner, "pro", "monthly")
        await billing.advance_days(10, owner)
        await billing.pay(owner, "enterprise", "monthly")
        subscription = await billing.subscription(owner)
        assert subscription["plan"] == "enterprise"
        assert at(subscription["current_period_start"]) == billing.users.clock.now()
        assert (await billing.me(owner))["tier"] == "enterprise"


class TestGraceAndExpiry:
    async def test_unrenewed_goes_past_due_then_expires_to_free_after_grace(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("lapse@example.com")
        await billing.pay(owner, "pro", "monthly")
        await billing.advance_days(29, owner)
        assert (await billing.sweep()).changed == {}

        await billing.advance_days(2, owner)  # past the period end (30 days in June)
        assert (await billing.sweep()).changed == {owner.tenant_id: "past_due"}
        past_due = await billing.subscription(owner)
        assert past_due["status"] == "past_due"
        assert (await billing.me(owner))["tier"] == "pro"  # kept during the grace period

        await billing.advance_days(GRACE_DAYS, owner)
        assert (await billing.sweep()).changed == {owner.tenant_id: "expired"}
        assert (await billing.subscription(owner))["status"] == "expired"
        me = await billing.me(owner)
        assert me["tier"] == "free" and me["limits"]["rest_requests_per_minute"] == 60
        event = await billing.users.event(
            "users.tier.changed", tenant_id=owner.tenant_id, tier="free"
        )
        assert event["previous_tier"] == "pro"
        assert (await billing.sweep()).visited == 0

    async def test_paying_while_past_due_reactivates_without_free_days(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("late-payer@example.com")
        await billing.pay(owner, "pro", "monthly")
        first_end = at((await billing.subscription(owner))["current_period_end"])
        await billing.advance_days(32, owner)
        await billing.sweep()

        await billing.pay(owner, "pro", "monthly")

        subscription = await billing.subscription(owner)
        assert subscription["status"] == "active" and subscription["grace_until"] is None
        assert at(subscription["current_period_end"]) == first_end.replace(
            month=first_end.month + 1
        )

    async def test_the_sweep_endpoint_is_for_superadmins(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("sweeper@example.com")
        refused = await billing.client.post("/api/v1/admin/billing/sweep", headers=owner.headers)
        assert refused.status_code == 403
        root = await billing.users.signup("root@example.com")
        await billing.users.make_superadmin("root@example.com")
        response = await billing.client.post("/api/v1/admin/billing/sweep", headers=root.headers)
        assert response.status_code == 200 and response.json() == {
            "visited": 0,
            "changed": {},
            "renewals": {},
        }


class TestCancel:
    async def test_cancel_keeps_the_plan_to_the_period_end_then_expires_without_grace(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("cancel@example.com")
        await billing.pay(owner, "pro", "monthly")
        response = await billing.client.post(
            "/api/v1/billing/subscription/cancel", headers=owner.headers
        )
        assert response.status_code == 200
        assert response.json()["status"] == "canceled"
        assert response.json()["cancel_at_period_end"] is True
        assert (await billing.me(owner))["tier"] == "pro"

        await billing.advance_days(31, owner)
        assert (await billing.sweep()).changed == {owner.tenant_id: "expired"}
        assert (await billing.me(owner))["tier"] == "free"

    async def test_without_a_subscription_there_is_nothing_to_cancel(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("nosub@example.com")
        response = await billing.client.post(
            "/api/v1/billing/subscription/cancel", headers=owner.headers
        )
        assert response.status_code == 404 and error_code(response) == "subscription_not_found"
