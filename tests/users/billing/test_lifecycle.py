"""The subscription lifecycle with the simulated clock: trial, upgrade with proration,
downgrade at the period end, renewal orders and the reminders for the notification hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from chainflow.core.settings import BillingSettings
from tests.fixtures.database import sqlite_database
from tests.users.billing.conftest import BillingHarness, billing_harness
from tests.users.conftest import error_code

TRIAL_DAYS = 14


def with_trials(settings: BillingSettings) -> BillingSettings:
    return settings.model_copy(update={"trial_days": {"pro": TRIAL_DAYS}})


@pytest.fixture
async def trials(tmp_path: Path) -> AsyncIterator[BillingHarness]:
    async with billing_harness(sqlite_database(tmp_path), configure=with_trials) as harness:
        yield harness


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestTrial:
    async def test_a_trial_gives_the_tier_until_it_ends_then_expires(
        self, trials: BillingHarness
    ) -> None:
        owner = await trials.users.signup("trial@example.com")
        response = await trials.client.post(
            "/api/v1/billing/trial", json={"plan": "pro"}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "trialing" and body["trial_used"] is True
        assert (await trials.me(owner))["tier"] == "pro"
        assert trials.peer.snap_requests == []  # no payment

        await trials.advance_days(TRIAL_DAYS, owner)
        result = await trials.sweep()

        assert result.changed == {owner.tenant_id: "expired"}
        assert (await trials.me(owner))["tier"] == "free"

    async def test_a_trial_is_once_per_tenant_and_only_for_plans_that_offer_one(
        self, trials: BillingHarness
    ) -> None:
        owner = await trials.users.signup("twice@example.com")
        enterprise = await trials.client.post(
            "/api/v1/billing/trial", json={"plan": "enterprise"}, headers=owner.headers
        )
        assert enterprise.status_code == 409 and error_code(enterprise) == "trial_unavailable"
        first = await trials.client.post(
            "/api/v1/billing/trial", json={"plan": "pro"}, headers=owner.headers
        )
        assert first.status_code == 201
        await trials.advance_days(TRIAL_DAYS + 1, owner)
        await trials.sweep()

        again = await trials.client.post(
            "/api/v1/billing/trial", json={"plan": "pro"}, headers=owner.headers
        )

        assert again.status_code == 409 and error_code(again) == "trial_unavailable"
        assert (await trials.me(owner))["tier"] == "free"

    async def test_without_trial_days_there_is_no_trial(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("notrial@example.com")
        response = await billing.client.post(
            "/api/v1/billing/trial", json={"plan": "pro"}, headers=owner.headers
        )
        assert response.status_code == 409 and error_code(response) == "trial_unavailable"

    async def test_paying_during_the_trial_starts_the_paid_period_at_the_trial_end(
        self, trials: BillingHarness
    ) -> None:
        owner = await trials.users.signup("convert@example.com")
        trial = await trials.client.post(
            "/api/v1/billing/trial", json={"plan": "pro"}, headers=owner.headers
        )
        trial_end = at(trial.json()["current_period_end"])
        await trials.advance_days(5, owner)

        await trials.pay(owner, "pro", "monthly")

        subscription = await trials.subscription(owner)
        assert subscription["status"] == "active"
        assert at(subscription["current_period_end"]) == trial_end.replace(
            month=trial_end.month + 1
        )


class TestUpgrade:
    async def test_an_upgrade_credits_the_unused_part_and_applies_at_once(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("upgrade@example.com")
        await billing.pay(owner, "pro", "monthly")  # 30 days, June 15 to July 15
        await billing.advance_days(10, owner)

        response = await billing.checkout(owner, "enterprise", "monthly")

        assert response.status_code == 201, response.text
        sent = billing.peer.snap_requests[-1]
        lines = [(item["id"], item["price"]) for item in sent["item_details"]]
        # 20 of 30 days unused: 299,000 x 2/3 = 199,333 (floored); PPN on 2,299,667
        assert lines == [
            ("enterprise-monthly", 2_499_000),
            ("proration", -199_333),
            ("ppn", 252_963),
        ]
        assert sent["transaction_details"]["gross_amount"] == 2_552_630
        assert (await billing.me(owner))["tier"] == "pro"  # not before it is paid

        notified = await billing.notify(response.json()["order_id"], "settlement")

        assert notified.json()["status"] == "paid"
        assert (await billing.me(owner))["tier"] == "enterprise"
        subscription = await billing.subscription(owner)
        assert subscription["plan"] == "enterprise"
        assert at(subscription["current_period_start"]) == billing.users.clock.now()
        [upgrade, _first] = await billing.invoices(owner)
        assert upgrade["credit_idr"] == 199_333 and upgrade["total_idr"] == 2_552_630
        assert (
            upgrade["subtotal_idr"] - upgrade["credit_idr"] + upgrade["tax_idr"]
            == upgrade["total_idr"]
        )

    async def test_a_lower_plan_is_refused_at_checkout(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("nodown@example.com")
        await billing.pay(owner, "enterprise", "monthly")
        response = await billing.checkout(owner, "pro", "monthly")
        assert response.status_code == 409 and error_code(response) == "downgrade_at_period_end"


class TestDowngrade:
    async def test_a_downgrade_waits_for_the_period_end_and_the_sweep_applies_it(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("down@example.com")
        await billing.pay(owner, "enterprise", "monthly")
        end = at((await billing.subscription(owner))["current_period_end"])

        response = await billing.client.post(
            "/api/v1/billing/subscription/downgrade",
            json={"plan": "pro", "period": "monthly"},
            headers=owner.headers,
        )

        assert response.status_code == 200, response.text
        assert response.json()["scheduled_plan"] == "pro"
        assert at(response.json()["scheduled_at"]) == end
        assert (await billing.me(owner))["tier"] == "enterprise"
        await billing.advance_days(25, owner)  # within the lead time: a renewal for pro
        result = await billing.sweep()
        renewal_id = result.renewals[owner.tenant_id]
        renewal = await billing.order(owner, renewal_id)
        assert renewal["plan"] == "pro" and renewal["kind"] == "renewal"
        await billing.notify(renewal_id, "settlement")
        assert (await billing.me(owner))["tier"] == "enterprise"  # still paid through `end`

        await billing.advance_days(6, owner)  # past the end
        assert (await billing.sweep()).changed == {owner.tenant_id: "active"}  # a new plan

        subscription = await billing.subscription(owner)
        assert subscription["plan"] == "pro" and subscription["status"] == "active"
        assert subscription["scheduled_plan"] is None
        assert at(subscription["current_period_start"]) == end
        assert at(subscription["current_period_end"]) == end.replace(month=end.month + 1)
        assert (await billing.me(owner))["tier"] == "pro"

    async def test_downgrading_to_free_cancels_at_the_period_end(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("tofree@example.com")
        await billing.pay(owner, "pro", "monthly")
        response = await billing.client.post(
            "/api/v1/billing/subscription/downgrade",
            json={"plan": "free", "period": "monthly"},
            headers=owner.headers,
        )
        assert response.json()["status"] == "canceled"
        await billing.advance_days(25, owner)
        result = await billing.sweep()
        assert result.renewals == {}  # a canceled subscription is not renewed
        event = await billing.users.event(
            "users.billing.subscription_expiring", tenant_id=owner.tenant_id
        )
        assert event["status"] == "canceled"

    async def test_a_higher_plan_is_not_a_downgrade(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("notdown@example.com")
        await billing.pay(owner, "pro", "monthly")
        response = await billing.client.post(
            "/api/v1/billing/subscription/downgrade",
            json={"plan": "enterprise", "period": "monthly"},
            headers=owner.headers,
        )
        assert response.status_code == 422 and error_code(response) == "not_a_downgrade"


class TestRenewal:
    async def test_a_renewal_order_is_made_once_before_the_end_and_announced(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("renewal@example.com")
        await billing.pay(owner, "pro", "monthly")
        end = at((await billing.subscription(owner))["current_period_end"])
        await billing.advance_days(22, owner)  # 8 days left, lead time is 7
        assert (await billing.sweep()).renewals == {}

        await billing.advance_days(1, owner)
        first = await billing.sweep()
        second = await billing.sweep()

        order_id = first.renewals[owner.tenant_id]
        assert second.renewals == {} and second.visited == 0
        order = await billing.order(owner, order_id)
        assert order["status"] == "pending" and order["gross_amount_idr"] == 331_890
        assert order["redirect_url"].startswith(billing.peer.payment_page_url)  # a Payment Link
        event = await billing.users.event("users.billing.renewal_due", order_id=order_id)
        assert event["redirect_url"] == order["redirect_url"]
        assert (await billing.subscription(owner))["renewal_order_id"] == order_id

        await billing.notify(order_id, "settlement")

        subscription = await billing.subscription(owner)
        assert at(subscription["current_period_end"]) == end.replace(month=end.month + 1)
        await billing.advance_days(10, owner)  # past the old end: still active, no grace
        assert (await billing.sweep()).changed == {}

    async def test_an_unpaid_renewal_goes_past_due_with_a_reminder_then_expires(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("unpaid@example.com")
        await billing.pay(owner, "pro", "monthly")
        await billing.advance_days(25, owner)
        order_id = (await billing.sweep()).renewals[owner.tenant_id]
        denied = await billing.notify(order_id, "deny")
        assert denied.json()["status"] == "denied"
        failed = await billing.users.event("users.billing.payment_failed", order_id=order_id)
        assert failed["kind"] == "renewal" and failed["status"] == "denied"

        await billing.advance_days(6, owner)
        assert (await billing.sweep()).changed == {owner.tenant_id: "past_due"}
        expiring = await billing.users.event(
            "users.billing.subscription_expiring", tenant_id=owner.tenant_id
        )
        grace_until = (await billing.subscription(owner))["grace_until"]
        assert expiring["expires_at_ms"] == int(at(grace_until).timestamp() * 1000)
        await billing.advance_days(3, owner)
        assert (await billing.sweep()).changed == {owner.tenant_id: "expired"}
        assert (await billing.me(owner))["tier"] == "free"

    async def test_a_renewal_payment_link_failure_is_recorded_and_announced(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("snapfail@example.com")
        await billing.pay(owner, "pro", "monthly")
        await billing.advance_days(25, owner)
        billing.peer.payment_link_failure_status = 503

        order_id = (await billing.sweep()).renewals[owner.tenant_id]

        assert (await billing.order(owner, order_id))["status"] == "failed"
        event = await billing.users.event("users.billing.payment_failed", order_id=order_id)
        assert event["status"] == "failed"
