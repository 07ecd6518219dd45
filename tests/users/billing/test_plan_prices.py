"""Database overrides of plan prices: ``PUT``/``DELETE /api/v1/admin/billing/plans/{plan}/
{period}/price``, the effective price on the plan list, at checkout and on renewals, and the
audit of every change."""

from __future__ import annotations

from typing import Any

import httpx

from tests.users.billing.conftest import BillingHarness
from tests.users.conftest import Account, error_code

PRICE_PATH = "/api/v1/admin/billing/plans/{plan}/{period}/price"


async def superadmin(billing: BillingHarness, email: str = "root@example.com") -> Account:
    account = await billing.users.signup(email)
    await billing.users.make_superadmin(email)
    return account


async def set_price(
    billing: BillingHarness,
    admin: Account,
    price_idr: int,
    plan: str = "pro",
    period: str = "monthly",
    **extra: Any,
) -> httpx.Response:
    return await billing.client.put(
        PRICE_PATH.format(plan=plan, period=period),
        json={"price_idr": price_idr, "reason": "promotion", **extra},
        headers=admin.headers,
    )


async def listed_price(billing: BillingHarness, plan: str, period: str) -> dict[str, Any]:
    response = await billing.client.get("/api/v1/billing/plans")
    assert response.status_code == 200, response.text
    [item] = [i for i in response.json()["items"] if i["plan"] == plan]
    return dict(item["prices"][period])


class TestSetPrice:
    async def test_the_override_is_listed_and_charged_at_checkout(
        self, billing_on_every_backend: BillingHarness
    ) -> None:
        billing = billing_on_every_backend  # SQLite, and PostgreSQL as a non-superuser role
        admin = await superadmin(billing)
        response = await set_price(billing, admin, 199_000)
        assert response.status_code == 200, response.text
        assert response.json() | {"set_by": None} == {
            "plan": "pro",
            "period": "monthly",
            "code_price_idr": 299_000,
            "override_idr": 199_000,
            "effective_from": None,
            "effective_idr": 199_000,
            "set_by": None,
        }
        assert await listed_price(billing, "pro", "monthly") == {
            "idr": 199_000,
            "usd_display": "12.44",  # 199,000 / 16,000
        }
        assert (await listed_price(billing, "pro", "yearly"))["idr"] == 2_990_000

        owner = await billing.users.signup("cheap@example.com")
        checkout = await billing.checkout(owner)

        assert checkout.status_code == 201, checkout.text
        sent = billing.peer.snap_requests[-1]
        items = {i["id"]: i["price"] for i in sent["item_details"]}
        assert items == {"pro-monthly": 199_000, "ppn": 21_890}
        assert sent["transaction_details"]["gross_amount"] == 220_890
        assert checkout.json()["gross_amount_idr"] == 220_890

    async def test_a_price_from_a_future_date_applies_from_then(
        self, billing: BillingHarness
    ) -> None:
        admin = await superadmin(billing)
        start = "2025-06-20T00:00:00Z"  # the simulated clock starts on 2025-06-15
        response = await set_price(
            billing, admin, 3_500_000, "enterprise", "monthly", **{"effective_from": start}
        )
        assert response.status_code == 200, response.text
        assert response.json()["effective_idr"] == 2_499_000
        assert (await listed_price(billing, "enterprise", "monthly"))["idr"] == 2_499_000

        await billing.advance_days(5, admin)

        assert (await listed_price(billing, "enterprise", "monthly"))["idr"] == 3_500_000

    async def test_every_change_is_audited(self, billing: BillingHarness) -> None:
        admin = await superadmin(billing)
        await set_price(billing, admin, 199_000)
        await set_price(billing, admin, 249_000)
        reverted = await billing.client.delete(
            PRICE_PATH.format(plan="pro", period="monthly"),
            params={"reason": "promotion over"},
            headers=admin.headers,
        )
        assert reverted.status_code == 200, reverted.text
        assert reverted.json()["override_idr"] is None
        assert reverted.json()["effective_idr"] == 299_000

        audit = await billing.client.get(
            "/api/v1/admin/billing/audit", params={"tenant_id": "*"}, headers=admin.headers
        )

        entries = [
            (e["action"], e["details"]["previous_idr"], e["details"]["price_idr"], e["reason"])
            for e in reversed(audit.json()["items"])
        ]
        assert entries == [
            ("plan_price_set", 299_000, 199_000, "promotion"),
            ("plan_price_set", 199_000, 249_000, "promotion"),
            ("plan_price_reverted", 249_000, 299_000, "promotion over"),
        ]
        assert {e["actor_user_id"] for e in audit.json()["items"]} == {admin.user_id}
        assert (await listed_price(billing, "pro", "monthly"))["idr"] == 299_000

    async def test_reverting_without_an_override_is_not_found(
        self, billing: BillingHarness
    ) -> None:
        admin = await superadmin(billing)
        response = await billing.client.delete(
            PRICE_PATH.format(plan="pro", period="yearly"),
            params={"reason": "nothing to undo"},
            headers=admin.headers,
        )
        assert response.status_code == 404
        assert error_code(response) == "plan_price_override_not_found"

    async def test_bad_plans_periods_and_prices_are_refused(self, billing: BillingHarness) -> None:
        admin = await superadmin(billing)
        free = await set_price(billing, admin, 10_000, "free")
        unknown = await set_price(billing, admin, 10_000, "gold")
        period = await set_price(billing, admin, 10_000, "pro", "weekly")
        zero = await set_price(billing, admin, 0)

        assert (free.status_code, error_code(free)) == (422, "plan_not_purchasable")
        assert (unknown.status_code, error_code(unknown)) == (422, "invalid_plan")
        assert (period.status_code, error_code(period)) == (422, "invalid_period")
        assert zero.status_code == 422

    async def test_only_a_superadmin_sets_prices(self, billing: BillingHarness) -> None:
        owner = await billing.users.signup("owner@example.com")
        response = await set_price(billing, owner, 1_000)
        listing = await billing.client.get(
            "/api/v1/admin/billing/plans/prices", headers=owner.headers
        )
        assert response.status_code == 403 and listing.status_code == 403
        assert (await listed_price(billing, "pro", "monthly"))["idr"] == 299_000


class TestListPrices:
    async def test_every_paid_plan_and_period_is_listed(self, billing: BillingHarness) -> None:
        admin = await superadmin(billing)
        await set_price(billing, admin, 20_000_000, "enterprise", "yearly")

        response = await billing.client.get(
            "/api/v1/admin/billing/plans/prices", headers=admin.headers
        )

        assert response.status_code == 200, response.text
        rows = {(i["plan"], i["period"]): i["effective_idr"] for i in response.json()["items"]}
        assert rows == {
            ("pro", "monthly"): 299_000,
            ("pro", "yearly"): 2_990_000,
            ("enterprise", "monthly"): 2_499_000,
            ("enterprise", "yearly"): 20_000_000,
        }
