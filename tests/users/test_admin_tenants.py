"""``GET /api/v1/admin/tenants``: every tenant, for superadmins only, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chainflow.users.billing.models import Subscription
from tests.users.conftest import UsersHarness, error_code


async def _subscribe(users: UsersHarness, tenant_id: str) -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    async with users.database.unit_of_work(system=True) as uow:
        uow.session.add(
            Subscription(
                tenant_id=tenant_id,
                plan="pro",
                period="monthly",
                status="active",
                current_period_start=start,
                current_period_end=start + timedelta(days=30),
                cancel_at_period_end=False,
            )
        )


class TestAdminTenantsList:
    async def test_lists_every_tenant_with_users_and_subscription(
        self, users: UsersHarness
    ) -> None:
        first = await users.signup("first-admin-list@example.com")
        second = await users.signup("second-admin-list@example.com")
        root = await users.signup("root-admin-list@example.com")
        await users.make_superadmin(root.email)
        await _subscribe(users, second.tenant_id)

        response = await users.client.get("/api/v1/admin/tenants", headers=root.headers)

        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next_offset"] is None
        by_id = {item["tenant_id"]: item for item in page["items"]}
        assert [item["tenant_id"] for item in page["items"]] == [
            first.tenant_id,
            second.tenant_id,
            root.tenant_id,
        ]
        assert by_id[first.tenant_id]["user_count"] == 1
        assert by_id[first.tenant_id]["tier"] == "free"
        assert by_id[first.tenant_id]["subscription_status"] is None
        assert by_id[second.tenant_id]["subscription_status"] == "active"
        assert by_id[second.tenant_id]["subscription_plan"] == "pro"
        assert by_id[root.tenant_id]["created_at"]

    async def test_pages_follow_next_offset(self, users: UsersHarness) -> None:
        accounts = [await users.signup(f"page-{i}@example.com") for i in range(3)]
        await users.make_superadmin(accounts[0].email)
        seen: list[str] = []
        url = "/api/v1/admin/tenants?limit=2"
        while True:
            page = (await users.client.get(url, headers=accounts[0].headers)).json()
            seen += [item["tenant_id"] for item in page["items"]]
            if page["next_offset"] is None:
                break
            url = f"/api/v1/admin/tenants?limit=2&offset={page['next_offset']}"
        assert seen == [a.tenant_id for a in accounts]

    @pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "offset=-1"])
    async def test_paging_out_of_range_is_refused(self, users: UsersHarness, query: str) -> None:
        admin = await users.signup("range-admin@example.com")
        await users.make_superadmin(admin.email)
        answer = await users.client.get(f"/api/v1/admin/tenants?{query}", headers=admin.headers)
        assert answer.status_code == 422, answer.text
        assert error_code(answer) == "invalid_input"

    async def test_a_tenant_owner_is_refused_and_a_stranger_unauthenticated(
        self, users: UsersHarness
    ) -> None:
        owner = await users.signup("owner-admin-list@example.com")
        refused = await users.client.get("/api/v1/admin/tenants", headers=owner.headers)
        assert refused.status_code == 403 and error_code(refused) == "permission_denied"
        anonymous = await users.client.get("/api/v1/admin/tenants")
        assert anonymous.status_code == 401
