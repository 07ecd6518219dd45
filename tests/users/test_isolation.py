"""Tenant isolation: every tenant-owned endpoint tried with another tenant's ids answers
404 (never 403, which would confirm the id exists) and leaks nothing, on SQLite and on
PostgreSQL (where RLS also binds a query that forgot its tenant filter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from tests.fixtures.backends import unique_name
from tests.fixtures.database import ProvisionedDatabase
from tests.users.conftest import PASSWORD, Account, UsersHarness, bearer, users_harness

USERS_TENANT_TABLES = (
    "users",
    "refresh_tokens",
    "one_time_tokens",
    "api_keys",
    "invitations",
    "tenant_trading_settings",
)


@dataclass
class TenantWorld:
    """One enterprise tenant with an owner, a second member, a key and an invitation."""

    owner: Account
    member_id: str
    member_session_id: str
    api_key_id: str
    api_key: str
    invitation_id: str


async def build_world(users: UsersHarness, root: Account, name: str) -> TenantWorld:
    owner = await users.signup(f"{name}-owner@example.com")
    assert (await users.set_tier(root, owner.tenant_id, "enterprise")).is_success
    invited = await users.client.post(
        "/api/v1/tenant/invitations",
        json={"email": f"{name}-member@example.com", "role": "trader"},
        headers=owner.headers,
    )
    token = (await users.event("users.invitation.created", invitation_id=invited.json()["id"]))[
        "token"
    ]
    joined = await users.client.post(
        "/api/v1/auth/accept-invitation", json={"token": token, "password": PASSWORD}
    )
    member_login = (await users.login(f"{name}-member@example.com")).json()
    pending = await users.client.post(
        "/api/v1/tenant/invitations",
        json={"email": f"{name}-later@example.com", "role": "viewer"},
        headers=owner.headers,
    )
    key = await users.client.post(
        "/api/v1/api-keys", json={"name": name, "scopes": ["read"]}, headers=owner.headers
    )
    await users.client.put(
        "/api/v1/tenant/trading-settings",
        json={"risk_tolerance": "conservative", "allowed_symbols": [f"{name.upper()}USD"]},
        headers=owner.headers,
    )
    return TenantWorld(
        owner=owner,
        member_id=joined.json()["user_id"],
        member_session_id=member_login["session_id"],
        api_key_id=key.json()["id"],
        api_key=key.json()["key"],
        invitation_id=pending.json()["id"],
    )


@dataclass
class TwoTenants:
    users: UsersHarness
    a: TenantWorld
    b: TenantWorld


@pytest.fixture
async def two_tenants(module_database: ProvisionedDatabase) -> AsyncIterator[TwoTenants]:
    async with users_harness(module_database.url) as users:
        run = unique_name("w")  # the module's database is shared by its tests
        root = await users.signup(f"root-{run}@example.com")
        await users.make_superadmin(root.email)
        a = await build_world(users, root, f"a{run}")
        b = await build_world(users, root, f"b{run}")
        yield TwoTenants(users, a, b)


class TestCrossTenantRequests:
    async def test_api_keys_of_another_tenant_are_invisible_and_untouchable(
        self, two_tenants: TwoTenants
    ) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        listed = await users.client.get("/api/v1/api-keys", headers=a.owner.headers)
        assert [k["id"] for k in listed.json()["items"]] == [a.api_key_id]
        deleted = await users.client.delete(
            f"/api/v1/api-keys/{b.api_key_id}", headers=a.owner.headers
        )
        assert deleted.status_code == 404
        assert (await users.client.get("/api/v1/users/me", headers=bearer(b.api_key))).is_success

    async def test_sessions_of_another_tenant_cannot_be_revoked(
        self, two_tenants: TwoTenants
    ) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        for session_id in (b.owner.session_id, b.member_session_id):
            response = await users.client.delete(
                f"/api/v1/auth/sessions/{session_id}", headers=a.owner.headers
            )
            assert response.status_code == 404
        assert (await users.client.get("/api/v1/users/me", headers=b.owner.headers)).is_success
        sessions = await users.client.get("/api/v1/auth/sessions", headers=a.owner.headers)
        assert [s["session_id"] for s in sessions.json()["items"]] == [a.owner.session_id]

    async def test_members_of_another_tenant_are_invisible_and_unchangeable(
        self, two_tenants: TwoTenants
    ) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        for target in (b.member_id, b.owner.user_id):
            response = await users.client.patch(
                f"/api/v1/tenant/members/{target}", json={"role": "viewer"}, headers=a.owner.headers
            )
            assert response.status_code == 404
        members = (await users.client.get("/api/v1/tenant/members", headers=b.owner.headers)).json()
        assert {m["role"] for m in members["items"]} == {"owner", "trader"}
        seen = (await users.client.get("/api/v1/tenant/members", headers=a.owner.headers)).json()
        assert {m["user_id"] for m in seen["items"]} == {a.owner.user_id, a.member_id}

    async def test_invitations_of_another_tenant_are_invisible_and_untouchable(
        self, two_tenants: TwoTenants
    ) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        listed = await users.client.get("/api/v1/tenant/invitations", headers=a.owner.headers)
        assert [i["id"] for i in listed.json()["items"]] == [a.invitation_id]
        deleted = await users.client.delete(
            f"/api/v1/tenant/invitations/{b.invitation_id}", headers=a.owner.headers
        )
        assert deleted.status_code == 404
        still = await users.client.get("/api/v1/tenant/invitations", headers=b.owner.headers)
        assert [i["id"] for i in still.json()["items"]] == [b.invitation_id]

    async def test_trading_settings_are_per_tenant(self, two_tenants: TwoTenants) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        await users.client.put(
            "/api/v1/tenant/trading-settings",
            json={"risk_tolerance": "aggressive"},
            headers=a.owner.headers,
        )
        theirs = await users.client.get("/api/v1/tenant/trading-settings", headers=b.owner.headers)
        assert theirs.json()["risk_tolerance"] == "conservative"
        assert len(theirs.json()["allowed_symbols"]) == 1

    async def test_admin_routes_refuse_tenant_owners(self, two_tenants: TwoTenants) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        for response in (
            await users.set_tier(a.owner, b.owner.tenant_id, "free"),
            await users.client.get(
                f"/api/v1/admin/tenants/{b.owner.tenant_id}", headers=a.owner.headers
            ),
            await users.client.post(
                f"/api/v1/admin/users/{b.member_id}/verification-token", headers=a.owner.headers
            ),
        ):
            assert response.status_code == 403


# Row-level security exists on PostgreSQL only: these run on that backend alone.
@pytest.mark.parametrize("module_database", ["postgresql"], indirect=True)
class TestRowLevelSecurity:
    async def test_unfiltered_queries_see_only_the_units_tenant(
        self, two_tenants: TwoTenants
    ) -> None:
        users, a = two_tenants.users, two_tenants.a
        tenant = TenantContext(tenant_id=TenantId(a.owner.tenant_id))
        async with users.database.unit_of_work(tenant) as uow:
            for table in USERS_TENANT_TABLES:
                owners = await uow.session.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))
                assert set(owners.scalars()) == {a.owner.tenant_id}, table

    async def test_writing_another_tenants_row_is_refused(self, two_tenants: TwoTenants) -> None:
        users, a, b = two_tenants.users, two_tenants.a, two_tenants.b
        tenant = TenantContext(tenant_id=TenantId(a.owner.tenant_id))
        async with users.database.unit_of_work(tenant) as uow:
            result = await uow.session.execute(
                text("UPDATE users SET role = 'viewer' WHERE id = :id"), {"id": b.member_id}
            )
            assert result.rowcount == 0
