"""Authenticated reads answered from caches: what they cost, and what changes reach them.

Every test warms the caches first (a ``GET /users/me``), then changes something and asserts
the next request sees it: at once when the users service made the change, within the
documented bound when it was made behind its back (another process, an operator's SQL).
Both relational backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from chainflow.users.models import User
from chainflow.users.service.profile_cache import PROFILE_CACHE_TTL_S
from tests.fixtures.database import ProvisionedDatabase
from tests.users.conftest import Account, UsersHarness, bearer, error_code, users_harness
from tests.users.test_team import enterprise_owner, invite, join

VERIFICATION_TOPIC = "users.verification.requested"


@pytest.fixture
async def harness(fresh_database: ProvisionedDatabase) -> AsyncIterator[UsersHarness]:
    async with users_harness(fresh_database.url) as users:
        yield users


@contextmanager
def counted_statements(users: UsersHarness) -> Iterator[list[str]]:
    """Collect every SQL statement either engine of the database sends while open."""
    statements: list[str] = []

    def count(*arguments: Any) -> None:
        statements.append(str(arguments[2]))

    engines = {users.database.engine.sync_engine, users.database.read_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


async def warm(users: UsersHarness, account: Account) -> dict[str, Any]:
    response = await users.client.get("/api/v1/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def set_user_column(users: UsersHarness, user_id: str, **values: Any) -> None:
    """Change a user row directly, as another process or an operator's SQL would."""
    async with users.database.unit_of_work(system=True) as uow:
        await uow.session.execute(update(User).where(User.id == user_id).values(**values))


class TestWarmRead:
    async def test_a_warm_profile_read_sends_no_statement(self, harness: UsersHarness) -> None:
        account = await harness.signup("ann@example.com")
        await warm(harness, account)
        with counted_statements(harness) as statements:
            response = await harness.client.get("/api/v1/users/me", headers=account.headers)
        assert response.status_code == 200 and response.json()["email"] == "ann@example.com"
        assert statements == []

    async def test_a_cold_profile_read_is_one_query(self, harness: UsersHarness) -> None:
        account = await harness.signup("ben@example.com")
        await warm(harness, account)
        harness.advance(PROFILE_CACHE_TTL_S + 1)
        with counted_statements(harness) as statements:
            response = await harness.client.get("/api/v1/users/me", headers=account.headers)
        assert response.status_code == 200
        queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        user_queries = [s for s in queries if "FROM users" in s]
        assert len(user_queries) == 1 and "password_hash" not in user_queries[0]


class TestChangesReachTheCache:
    async def test_profile_change_is_read_back_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("cal@example.com")
        await warm(harness, account)
        patched = await harness.client.patch(
            "/api/v1/users/me", json={"name": "Cal", "locale": "id"}, headers=account.headers
        )
        assert patched.status_code == 200
        profile = await warm(harness, account)
        assert (profile["name"], profile["locale"]) == ("Cal", "id")

    async def test_verified_address_is_read_back_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("dot@example.com")
        assert (await warm(harness, account))["email_verified"] is False
        token = (await harness.event(VERIFICATION_TOPIC, email="dot@example.com"))["token"]
        verified = await harness.client.post("/api/v1/auth/verify", json={"token": token})
        assert verified.status_code == 200
        assert (await warm(harness, account))["email_verified"] is True

    async def test_superadmin_grant_is_read_back_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("eli@example.com")
        assert (await warm(harness, account))["is_superadmin"] is False
        await harness.make_superadmin("eli@example.com")
        assert (await warm(harness, account))["is_superadmin"] is True

    async def test_tier_change_is_read_back_at_once(self, harness: UsersHarness) -> None:
        admin = await harness.signup("fox@example.com")
        await harness.make_superadmin("fox@example.com")
        account = await harness.signup("gus@example.com")
        assert (await warm(harness, account))["tier"] == "free"
        changed = await harness.set_tier(admin, account.tenant_id, "pro")
        assert changed.status_code == 200, changed.text
        profile = await warm(harness, account)
        assert profile["tier"] == "pro"
        assert profile["limits"]["rest_requests_per_minute"] == 600

    async def test_role_change_is_read_back_at_once(self, harness: UsersHarness) -> None:
        owner = await enterprise_owner(harness, "hal@example.com")
        _, token = await invite(harness, owner, "ivy@example.com", role="viewer")
        await join(harness, token)
        login = (await harness.login("ivy@example.com")).json()
        member = bearer(login["access_token"])
        me = await harness.client.get("/api/v1/users/me", headers=member)
        assert me.json()["role"] == "viewer"
        changed = await harness.client.patch(
            f"/api/v1/tenant/members/{me.json()['user_id']}",
            json={"role": "admin"},
            headers=owner.headers,
        )
        assert changed.status_code == 200
        after = await harness.client.get("/api/v1/users/me", headers=member)
        assert after.json()["role"] == "admin"


class TestRevocationReachesTheCache:
    async def test_revoked_session_is_refused_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("jay@example.com")
        await warm(harness, account)
        revoked = await harness.client.delete(
            f"/api/v1/auth/sessions/{account.session_id}", headers=account.headers
        )
        assert revoked.status_code == 204
        refused = await harness.client.get("/api/v1/users/me", headers=account.headers)
        assert refused.status_code == 401 and error_code(refused) == "invalid_credentials"

    async def test_logout_refuses_the_access_token_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("kim@example.com")
        await warm(harness, account)
        out = await harness.client.post(
            "/api/v1/auth/logout", json={"refresh_token": account.refresh_token}
        )
        assert out.status_code == 204
        refused = await harness.client.get("/api/v1/users/me", headers=account.headers)
        assert refused.status_code == 401

    async def test_refresh_token_reuse_refuses_the_session_at_once(
        self, harness: UsersHarness
    ) -> None:
        account = await harness.signup("lee@example.com")
        body = {"refresh_token": account.refresh_token}
        rotated = await harness.client.post("/api/v1/auth/refresh", json=body)
        assert rotated.status_code == 200
        fresh = bearer(rotated.json()["access_token"])
        assert (await harness.client.get("/api/v1/users/me", headers=fresh)).status_code == 200
        harness.advance(11)  # past the reuse grace (10 s)
        reused = await harness.client.post("/api/v1/auth/refresh", json=body)
        assert error_code(reused) == "refresh_token_reused"
        refused = await harness.client.get("/api/v1/users/me", headers=fresh)
        assert refused.status_code == 401

    async def test_revoked_api_key_is_refused_at_once(self, harness: UsersHarness) -> None:
        account = await harness.signup("max@example.com")
        created = await harness.client.post(
            "/api/v1/api-keys",
            json={"name": "bot", "scopes": ["signals:read"]},
            headers=account.headers,
        )
        assert created.status_code == 201, created.text
        key = bearer(created.json()["key"])
        assert (await harness.client.get("/api/v1/probe/signals", headers=key)).status_code == 200
        deleted = await harness.client.delete(
            f"/api/v1/api-keys/{created.json()['id']}", headers=account.headers
        )
        assert deleted.status_code == 204
        refused = await harness.client.get("/api/v1/probe/signals", headers=key)
        assert refused.status_code == 401

    async def test_user_disabled_behind_the_services_back_is_refused_within_the_ttl(
        self, harness: UsersHarness
    ) -> None:
        account = await harness.signup("ned@example.com")
        await warm(harness, account)
        await set_user_column(harness, account.user_id, is_active=False)
        harness.advance(harness.authenticator.principals.ttl_s + 1)
        refused = await harness.client.get("/api/v1/users/me", headers=account.headers)
        assert refused.status_code == 401

    async def test_name_changed_behind_the_services_back_shows_within_the_ttl(
        self, harness: UsersHarness
    ) -> None:
        account = await harness.signup("oda@example.com")
        await warm(harness, account)
        await set_user_column(harness, account.user_id, name="Oda Elsewhere")
        harness.advance(PROFILE_CACHE_TTL_S + 0.5)
        assert (await warm(harness, account))["name"] == "Oda Elsewhere"
