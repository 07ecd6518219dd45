"""``POST /api/v1/billing/midtrans/notification``: signed, confirmed, idempotent, monotonic."""

from __future__ import annotations

import random

from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.users.billing.order_state import OrderStatus
from chainflow.users.billing.signature import notification_signature
from tests.users.billing.conftest import BillingHarness
from tests.users.billing.midtrans_peer import NOTIFICATION_PATH
from tests.users.billing.test_order_state import final_state
from tests.users.conftest import error_code

DELIVERABLE: list[tuple[str, str | None]] = [
    ("capture", "accept"),
    ("capture", "challenge"),
    ("settlement", None),
    ("pending", None),
    ("deny", None),
    ("cancel", None),
    ("expire", None),
    ("refund", None),
    ("partial_refund", None),
]


class TestSettlement:
    async def test_settlement_upgrades_the_tier_for_the_next_request(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner = await billing.users.signup("payer@example.com")
        assert (await billing.me(owner))["tier"] == "free"  # the principal is now cached
        order_id = await billing.order_id(owner, "pro", "monthly")

        response = await billing.notify(order_id, "settlement")

        assert response.status_code == 200, response.text
        assert response.json() == {"order_id": order_id, "status": "paid", "changed": True}
        me = await billing.me(owner)
        assert me["tier"] == "pro" and me["limits"] == TIER_LIMITS[Tier.PRO].to_dict()
        event = await billing.users.event("users.tier.changed", tenant_id=owner.tenant_id)
        assert event["previous_tier"] == "free" and event["tier"] == "pro"
        subscription = await billing.subscription(owner)
        assert subscription["status"] == "active" and subscription["plan"] == "pro"
        assert billing.peer.status_requests == [order_id]  # confirmed with the Core API

    async def test_capture_accepted_is_paid(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("card@example.com")
        order_id = await billing.order_id(owner, "enterprise", "monthly")
        response = await billing.notify(order_id, "capture", "accept")
        assert response.json()["status"] == "paid"
        assert (await billing.me(owner))["tier"] == "enterprise"

    async def test_the_confirmed_status_wins_over_the_notification_body(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("body@example.com")
        order_id = await billing.order_id(owner)
        billing.peer.set_status(order_id, "pending")  # Midtrans says: not paid
        body = billing.peer.notification(order_id, "settlement")  # a signed but stale claim
        response = await billing.client.post(NOTIFICATION_PATH, json=body)
        assert response.json()["status"] == "pending"
        assert (await billing.me(owner))["tier"] == "free"


class TestForgedNotifications:
    async def test_forged_signature_is_rejected_and_changes_nothing(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("victim@example.com")
        order_id = await billing.order_id(owner)
        billing.peer.set_status(order_id, "settlement")  # even if the status would say paid
        forged = billing.peer.notification(order_id, "settlement", signing_key="guessed-key")

        response = await billing.client.post(NOTIFICATION_PATH, json=forged)

        assert response.status_code == 403 and error_code(response) == "invalid_signature"
        assert billing.peer.status_requests == []
        assert (await billing.order(owner, order_id))["status"] == "pending"
        assert (await billing.me(owner))["tier"] == "free"
        event = await billing.users.event(
            "users.security.payment_notification_rejected", order_id=order_id
        )
        assert event["reason"] == "invalid_signature" and "signature_key" not in event

    async def test_a_tampered_amount_breaks_the_signature(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("tamper@example.com")
        order_id = await billing.order_id(owner)
        body = billing.peer.notification(order_id, "settlement")
        body["gross_amount"] = "1.00"
        response = await billing.client.post(NOTIFICATION_PATH, json=body)
        assert response.status_code == 403 and error_code(response) == "invalid_signature"

    async def test_a_confirmed_amount_other_than_the_orders_is_refused(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("amount@example.com")
        order_id = await billing.order_id(owner)
        billing.peer.set_status(order_id, "settlement", gross_amount=1000)
        body = billing.peer.notification(order_id, "settlement")
        response = await billing.client.post(NOTIFICATION_PATH, json=body)
        assert response.status_code == 409 and error_code(response) == "payment_mismatch"
        assert (await billing.me(owner))["tier"] == "free"

    async def test_missing_fields_and_bad_json_are_protocol_errors(
        self, billing: BillingHarness
    ) -> None:
        missing = await billing.client.post(NOTIFICATION_PATH, json={"order_id": "x"})
        assert missing.status_code == 400 and error_code(missing) == "invalid_notification"
        garbage = await billing.client.post(
            NOTIFICATION_PATH, content=b"{nope", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 400

    async def test_unknown_order_is_not_found(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("ghost@example.com")
        order_id = await billing.order_id(owner)
        body = billing.peer.notification(order_id, "settlement")
        body["order_id"] = "CF-unknown"
        # Re-sign for the unknown id so that only the lookup can refuse it.
        body["signature_key"] = notification_signature(
            "CF-unknown", body["status_code"], body["gross_amount"], billing.peer.server_key
        )
        response = await billing.client.post(NOTIFICATION_PATH, json=body)
        assert response.status_code == 404 and error_code(response) == "order_not_found"


class TestRetriesAndOrder:
    async def test_a_duplicate_notification_changes_nothing(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner = await billing.users.signup("dup@example.com")
        order_id = await billing.order_id(owner)
        first = await billing.notify(order_id, "settlement")
        subscription = await billing.subscription(owner)

        again = await billing.notify(order_id, "settlement")

        assert first.json()["changed"] is True and again.json()["changed"] is False
        assert await billing.subscription(owner) == subscription
        assert len(await billing.invoices(owner)) == 1
        subjects = await billing.users.settled_subjects()
        assert subjects.count("users.tier.changed") == 1
        assert subjects.count("users.billing.order_status_changed") == 1

    async def test_a_late_pending_never_undoes_a_settlement(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend
        owner = await billing.users.signup("late@example.com")
        order_id = await billing.order_id(owner)
        await billing.notify(order_id, "settlement")
        # A stale read: even the Core API still says pending when the late one comes in.
        response = await billing.notify(order_id, "pending")
        assert response.json() == {"order_id": order_id, "status": "paid", "changed": False}
        assert (await billing.me(owner))["tier"] == "pro"

    async def test_out_of_order_delivery_ends_in_the_same_state(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("ooo@example.com")
        order_id = await billing.order_id(owner)
        for status in ("settlement", "pending", "settlement", "pending"):
            await billing.notify(order_id, status)
        assert (await billing.order(owner, order_id))["status"] == "paid"


class TestUnpaidOutcomes:
    async def test_deny_expire_and_cancel_leave_the_tier_alone(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("unpaid@example.com")
        outcomes = {}
        for status, fraud in (("deny", None), ("expire", None), ("cancel", None)):
            order_id = await billing.order_id(owner)
            await billing.notify(order_id, "pending")
            outcomes[status] = (await billing.notify(order_id, status, fraud)).json()["status"]
        assert outcomes == {"deny": "denied", "expire": "expired", "cancel": "canceled"}
        assert (await billing.me(owner))["tier"] == "free"
        assert await billing.invoices(owner) == []

    async def test_capture_challenge_waits_then_deny_is_denied(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("fraud@example.com")
        order_id = await billing.order_id(owner)
        challenged = await billing.notify(order_id, "capture", "challenge")
        assert challenged.json()["status"] == "challenge"
        assert (await billing.me(owner))["tier"] == "free"
        denied = await billing.notify(order_id, "capture", "deny")
        assert denied.json()["status"] == "denied"

    async def test_challenge_then_settlement_is_paid(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("review@example.com")
        order_id = await billing.order_id(owner)
        await billing.notify(order_id, "capture", "challenge")
        await billing.notify(order_id, "settlement")
        assert (await billing.me(owner))["tier"] == "pro"


class TestRefunds:
    async def test_full_refund_takes_the_plan_back(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("refund@example.com")
        order_id = await billing.pay(owner)
        assert (await billing.me(owner))["tier"] == "pro"

        response = await billing.notify(order_id, "refund")

        assert response.json()["status"] == "refunded"
        assert (await billing.me(owner))["tier"] == "free"
        assert (await billing.subscription(owner))["status"] == "expired"
        assert len(await billing.invoices(owner)) == 1  # the invoice of the payment stays

    async def test_partial_refund_keeps_the_plan(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("partial@example.com")
        order_id = await billing.pay(owner)
        response = await billing.notify(order_id, "partial_refund")
        assert response.json()["status"] == "partially_refunded"
        assert (await billing.me(owner))["tier"] == "pro"

    async def test_a_refund_seen_before_the_settlement_never_grants(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("early@example.com")
        order_id = await billing.order_id(owner)
        await billing.notify(order_id, "refund")
        await billing.notify(order_id, "settlement")
        assert (await billing.order(owner, order_id))["status"] == "refunded"
        assert (await billing.me(owner))["tier"] == "free"


class TestRandomDeliveries:
    async def test_random_sequences_end_in_the_state_of_their_distinct_set(
        self, billing: BillingHarness
    ) -> None:
        # The service-level twin of the property test in test_order_state: real deliveries
        # through the webhook, the Core API answering each one's status (a stale read).
        rng = random.Random(18)
        owner = await billing.users.signup("random@example.com")
        for _ in range(6):
            order_id = await billing.order_id(owner, "enterprise")
            distinct = rng.sample(DELIVERABLE, k=rng.randint(1, 4))
            sequence = distinct + rng.choices(distinct, k=3)
            rng.shuffle(sequence)
            for transaction_status, fraud_status in sequence:
                await billing.notify(order_id, transaction_status, fraud_status)
            expected = final_state(OrderStatus.PENDING, distinct)
            assert (await billing.order(owner, order_id))["status"] == expected.value, sequence
