"""Card renewals: a card saved at a Snap payment (its Midtrans token only), the tenant's
opt-in, the Midtrans subscription the sweep creates with the first renewal, its charges
renewing through the webhook, and the disable on cancel, downgrade, upgrade and opt-out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from chainflow.users.billing.card_subscriptions import (
    new_subscription_name,
    start_time_text,
    subscription_name_in,
)
from chainflow.users.billing.models import BillingOrder, Subscription
from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import Account, error_code

AUTO_RENEW = "/api/v1/billing/subscription/auto-renew"
LEAD_DAYS = 7


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def card_payer(billing: BillingHarness, email: str, plan: str = "pro") -> Account:
    """Sign up and pay ``plan`` monthly by card, saving the card."""
    owner = await billing.users.signup(email)
    order_id = await billing.order_id(owner, plan, "monthly")
    assert billing.peer.pay_by_card(order_id) is not None
    response = await billing.notify(order_id, "capture", "accept")
    assert response.json()["status"] == "paid", response.text
    return owner


async def opt_in(billing: BillingHarness, owner: Account, enabled: bool = True) -> Any:
    response = await billing.client.put(
        AUTO_RENEW, json={"enabled": enabled}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def subscription_row(billing: BillingHarness, tenant_id: str) -> Subscription:
    async with billing.users.database.unit_of_work(system=True, read_only=True) as uow:
        statement = select(Subscription).where(Subscription.tenant_id == tenant_id)
        return (await uow.session.execute(statement)).scalar_one()


async def order_row(billing: BillingHarness, order_id: str) -> BillingOrder:
    async with billing.users.database.unit_of_work(system=True, read_only=True) as uow:
        statement = select(BillingOrder).where(BillingOrder.order_id == order_id)
        return (await uow.session.execute(statement)).scalar_one()


async def card_renewal(billing: BillingHarness, owner: Account) -> str:
    """Opt in, move to the renewal lead time, sweep; return the renewal order id."""
    await opt_in(billing, owner)
    await billing.advance_days(31 - LEAD_DAYS, owner)
    return (await billing.sweep()).renewals[owner.tenant_id]


class TestSavedCard:
    async def test_snap_offers_to_save_the_card_for_the_tenant(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("offer@example.com")
        await billing.order_id(owner)

        sent = billing.peer.snap_requests[-1]
        assert sent["credit_card"] == {"secure": True, "save_card": True}
        assert sent["user_id"] == owner.tenant_id

    async def test_only_the_token_of_a_saved_card_is_kept(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("token@example.com")
        order_id = await billing.order_id(owner)
        token = billing.peer.pay_by_card(order_id)

        await billing.notify(order_id, "capture", "accept")

        row = await subscription_row(billing, owner.tenant_id)
        assert row.card_token_id == token
        assert (await billing.subscription(owner))["card_saved"] is True
        assert "48111111-1114" not in str(row.customer_details)  # no masked card either

    async def test_a_bank_transfer_saves_no_card_and_auto_renew_is_refused(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("transfer@example.com")
        await billing.pay(owner)

        response = await billing.client.put(
            AUTO_RENEW, json={"enabled": True}, headers=owner.headers
        )

        assert response.status_code == 409 and error_code(response) == "no_saved_card"
        assert (await billing.subscription(owner))["auto_renew"] is False


class TestCardRenewal:
    async def test_the_sweep_creates_a_midtrans_subscription_instead_of_a_link(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "card@example.com")
        row = await subscription_row(billing, owner.tenant_id)

        order_id = await card_renewal(billing, owner)

        assert billing.peer.payment_link_requests == []
        [sent] = billing.peer.subscriptions.create_requests
        assert sent["name"].startswith("CFS-") and len(sent["name"]) <= 40
        assert sent["amount"] == "331890"  # a string, as the API wants
        assert (sent["currency"], sent["payment_type"]) == ("IDR", "credit_card")
        assert sent["token"] == row.card_token_id
        assert sent["schedule"] == {
            "interval": 1,
            "interval_unit": "month",
            "start_time": start_time_text(row.current_period_end),
        }
        assert sent["metadata"] == {"plan": "pro", "period": "monthly"}
        assert sent["customer_details"]["email"] == "card@example.com"
        peer_subscription = billing.peer.subscriptions.only()
        assert billing.peer.subscriptions.by_idempotency_key == {
            order_id: peer_subscription.subscription_id
        }
        order = await billing.order(owner, order_id)
        assert (order["status"], order["redirect_url"]) == ("pending", None)
        view = await billing.subscription(owner)
        assert view["auto_renew"] is True and view["card_subscription_active"] is True

    @pytest.mark.parametrize("subs_prefix", [False, True], ids=["name-digits", "SUBS-prefix"])
    async def test_a_charge_renews_the_subscription_through_the_webhook(
        self, billing: BillingHarness, subs_prefix: bool
    ) -> None:
        owner = await card_payer(billing, f"charge{subs_prefix}@example.com")
        order_id = await card_renewal(billing, owner)
        end = at((await billing.subscription(owner))["current_period_end"])
        peer_subscription = billing.peer.subscriptions.only()
        await billing.advance_days(LEAD_DAYS, owner)  # the period end: Midtrans charges

        charge = billing.peer.subscriptions.charge(
            peer_subscription.subscription_id, subs_prefix=subs_prefix
        )
        response = await billing.notify(charge, "capture", "accept")

        assert response.status_code == 200, response.text
        assert response.json() == {"order_id": order_id, "status": "paid", "changed": True}
        assert billing.peer.status_requests[-1] == charge  # confirmed as Midtrans names it
        order = await billing.order(owner, order_id)
        assert order["midtrans_order_id"] == charge
        subscription = await billing.subscription(owner)
        assert subscription["status"] == "active"
        assert at(subscription["current_period_end"]) > end
        assert [i["order_id"] for i in await billing.invoices(owner)][0] == order_id
        repeat = await billing.notify(charge, "settlement")
        assert repeat.json()["status"] == "paid" and len(await billing.invoices(owner)) == 2

    async def test_the_next_period_is_charged_by_the_same_subscription(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "twice@example.com")
        await card_renewal(billing, owner)
        subscription_id = billing.peer.subscriptions.only().subscription_id
        await billing.advance_days(LEAD_DAYS, owner)
        first = billing.peer.subscriptions.charge(subscription_id)
        await billing.notify(first, "capture", "accept")
        await billing.advance_days(31 - LEAD_DAYS, owner)

        second_order = (await billing.sweep()).renewals[owner.tenant_id]
        second = billing.peer.subscriptions.charge(subscription_id)
        response = await billing.notify(second, "capture", "accept")

        assert len(billing.peer.subscriptions.create_requests) == 1
        assert billing.peer.subscriptions.only().updates == []  # same amount
        assert response.json() == {"order_id": second_order, "status": "paid", "changed": True}
        assert len(await billing.invoices(owner)) == 3

    async def test_a_denied_charge_then_a_retry_pays_the_renewal_once(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "retry@example.com")
        order_id = await card_renewal(billing, owner)
        subscription_id = billing.peer.subscriptions.only().subscription_id
        denied = billing.peer.subscriptions.charge(subscription_id)
        retried = billing.peer.subscriptions.charge(subscription_id)

        first = await billing.notify(denied, "deny")
        second = await billing.notify(retried, "capture", "accept")
        late = await billing.notify(denied, "deny")

        assert first.json()["status"] == "denied"
        event = await billing.users.event("users.billing.payment_failed", order_id=order_id)
        assert event["kind"] == "renewal"
        assert second.json() == {"order_id": order_id, "status": "paid", "changed": True}
        assert late.json() == {"order_id": order_id, "status": "paid", "changed": False}
        assert (await order_row(billing, order_id)).midtrans_order_id == retried
        double = billing.peer.subscriptions.charge(subscription_id)  # a charge too many
        unmatched = await billing.notify(double, "capture", "accept")
        assert unmatched.json() == {"order_id": order_id, "status": "paid", "changed": False}
        rejected = await billing.users.event(
            "users.security.payment_notification_rejected", order_id=double
        )
        assert rejected["reason"] == "paid_by_another_transaction"

    async def test_a_new_price_updates_the_subscription_amount(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "newprice@example.com")
        await card_renewal(billing, owner)
        subscription_id = billing.peer.subscriptions.only().subscription_id
        await billing.advance_days(LEAD_DAYS, owner)
        await billing.notify(billing.peer.subscriptions.charge(subscription_id), "settlement")
        root = await billing.users.signup("price-root@example.com")
        await billing.users.make_superadmin(root.email)
        response = await billing.client.put(
            "/api/v1/admin/billing/plans/pro/monthly/price",
            json={"price_idr": 249_000, "reason": "new price list"},
            headers=root.headers,
        )
        assert response.status_code == 200, response.text
        await billing.advance_days(31 - LEAD_DAYS, owner)

        order_id = (await billing.sweep()).renewals[owner.tenant_id]

        [update] = billing.peer.subscriptions.only().updates
        assert update["amount"] == "276390"  # 249,000 + 11% PPN
        assert update["schedule"] == {"interval": 1}
        charge = billing.peer.subscriptions.charge(subscription_id)
        paid = await billing.notify(charge, "capture", "accept")
        assert paid.json() == {"order_id": order_id, "status": "paid", "changed": True}

    async def test_a_yearly_plan_is_charged_every_twelve_months(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("yearly@example.com")
        order_id = await billing.order_id(owner, "pro", "yearly")
        billing.peer.pay_by_card(order_id)
        await billing.notify(order_id, "capture", "accept")
        await opt_in(billing, owner)
        await billing.advance_days(360, owner)

        await billing.sweep()

        [sent] = billing.peer.subscriptions.create_requests
        assert sent["schedule"]["interval"] == 12 and sent["schedule"]["interval_unit"] == "month"

    async def test_a_refused_subscription_falls_back_to_a_payment_link(
        self, billing: BillingHarness
    ) -> None:
        owner = await card_payer(billing, "fallback@example.com")
        billing.peer.subscriptions.failure_status = 500

        order_id = await card_renewal(billing, owner)

        [link] = billing.peer.payment_link_requests
        assert link["transaction_details"]["order_id"] == order_id
        view = await billing.subscription(owner)
        assert view["auto_renew"] is True and view["card_subscription_active"] is False


class TestStopping:
    async def subscribed(self, billing: BillingHarness, email: str) -> tuple[Account, str]:
        owner = await card_payer(billing, email)
        await card_renewal(billing, owner)
        return owner, billing.peer.subscriptions.only().subscription_id

    async def test_cancel_disables_the_midtrans_subscription(self, billing: BillingHarness) -> None:
        owner, subscription_id = await self.subscribed(billing, "cancel@example.com")

        response = await billing.client.post(
            "/api/v1/billing/subscription/cancel", headers=owner.headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["card_subscription_active"] is False
        assert billing.peer.subscriptions.disabled == [subscription_id]
        assert billing.peer.subscriptions.only().status == "inactive"

    async def test_a_scheduled_downgrade_disables_it(self, billing: BillingHarness) -> None:
        owner = await card_payer(billing, "down@example.com", plan="enterprise")
        await card_renewal(billing, owner)
        subscription_id = billing.peer.subscriptions.only().subscription_id

        response = await billing.client.post(
            "/api/v1/billing/subscription/downgrade",
            json={"plan": "pro", "period": "monthly"},
            headers=owner.headers,
        )

        assert response.status_code == 200, response.text
        assert billing.peer.subscriptions.disabled == [subscription_id]
        assert response.json()["scheduled_plan"] == "pro"

    async def test_opting_out_disables_it_and_renewals_go_back_to_links(
        self, billing: BillingHarness
    ) -> None:
        owner, subscription_id = await self.subscribed(billing, "optout@example.com")
        await billing.advance_days(LEAD_DAYS, owner)
        charge = billing.peer.subscriptions.charge(subscription_id)
        await billing.notify(charge, "capture", "accept")

        view = await opt_in(billing, owner, enabled=False)
        await billing.advance_days(31 - LEAD_DAYS, owner)
        order_id = (await billing.sweep()).renewals[owner.tenant_id]

        assert view["auto_renew"] is False and view["card_subscription_active"] is False
        assert billing.peer.subscriptions.disabled == [subscription_id]
        assert billing.peer.payment_link_requests[-1]["transaction_details"]["order_id"] == (
            order_id
        )

    async def test_an_upgrade_disables_it(self, billing: BillingHarness) -> None:
        owner, subscription_id = await self.subscribed(billing, "upgrade@example.com")

        upgrade = await billing.order_id(owner, "enterprise", "monthly")
        await billing.notify(upgrade, "settlement")

        assert billing.peer.subscriptions.disabled == [subscription_id]
        view = await billing.subscription(owner)
        assert view["plan"] == "enterprise" and view["card_subscription_active"] is False

    async def test_a_failed_disable_is_retried_by_the_sweep(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner, subscription_id = await self.subscribed(billing, "stuck@example.com")
        billing.peer.subscriptions.disable_failure_status = 500

        cancel = await billing.client.post(
            "/api/v1/billing/subscription/cancel", headers=owner.headers
        )
        still = (await billing.subscription(owner))["card_subscription_active"]
        billing.peer.subscriptions.disable_failure_status = None
        await billing.sweep()

        assert cancel.status_code == 200 and still is True  # canceled; Midtrans was down
        assert billing.peer.subscriptions.disabled == [subscription_id]
        assert (await billing.subscription(owner))["card_subscription_active"] is False

    async def test_one_midtrans_no_longer_knows_counts_as_disabled(
        self, billing: BillingHarness
    ) -> None:
        owner, _subscription_id = await self.subscribed(billing, "gone@example.com")
        billing.peer.subscriptions.items.clear()  # disable answers 404 "doesn't exist"

        view = await opt_in(billing, owner, enabled=False)

        assert view["card_subscription_active"] is False


class TestChargeIds:
    def test_a_charge_id_names_its_subscription_however_it_is_prefixed(self) -> None:
        name = new_subscription_name()
        assert len(name) <= 40
        assert subscription_name_in(f"{name}-1700000000") == name
        assert subscription_name_in(f"SUBS-{name}-1700000000") == name
        assert subscription_name_in(f"{name}1700000000") == name
        assert subscription_name_in("CF-0123456789abcdef0123456789abcdef") is None
        assert subscription_name_in("SUBS-MONTHLY_2019-1700000000") is None

    async def test_a_charge_of_an_unknown_subscription_is_not_found(
        self, billing: BillingHarness
    ) -> None:
        orphan = f"{new_subscription_name()}-1700000000"
        billing.peer.add_card_transaction(orphan, 331_890, {})

        response = await billing.notify(orphan, "capture", "accept")

        assert response.status_code == 404 and error_code(response) == "order_not_found"
