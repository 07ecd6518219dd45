"""API keys: created once, listed by prefix, revoked at once, scoped, resolved by the gateway."""

from __future__ import annotations

from typing import Any

from chainflow.core.tokens import api_key_prefix
from tests.users.conftest import Account, UsersHarness, bearer, error_code


async def create_key(
    users: UsersHarness, account: Account, scopes: list[str], name: str = "terminal"
) -> dict[str, Any]:
    response = await users.client.post(
        "/api/v1/api-keys", json={"name": name, "scopes": scopes}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestCreateApiKey:
    async def test_key_is_shown_once_and_listed_by_prefix(self, users: UsersHarness) -> None:
        account = await users.signup("ari@example.com")
        created = await create_key(users, account, ["ticks:write", "signals:read"])
        assert {"id", "key", "prefix", "scopes"} <= set(created)
        assert (
            created["key"].startswith("cfk_")
            and api_key_prefix(created["key"]) == created["prefix"]
        )
        assert created["scopes"] == ["ticks:write", "signals:read"]
        listed = await users.client.get("/api/v1/api-keys", headers=account.headers)
        (item,) = listed.json()["items"]
        assert "key" not in item and created["key"] not in listed.text
        assert item["id"] == created["id"] and item["prefix"] == created["prefix"]
        assert item["last_used_at"] is None

    async def test_unknown_scope_is_invalid_scope(self, users: UsersHarness) -> None:
        account = await users.signup("bea@example.com")
        response = await users.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "scopes": ["ticks:write", "admin"]},
            headers=account.headers,
        )
        assert response.status_code == 422 and error_code(response) == "invalid_scope"

    async def test_empty_name_is_invalid_name(self, users: UsersHarness) -> None:
        account = await users.signup("cal@example.com")
        response = await users.client.post(
            "/api/v1/api-keys", json={"name": "  ", "scopes": ["read"]}, headers=account.headers
        )
        assert error_code(response) == "invalid_name"

    async def test_an_api_key_cannot_create_keys(self, users: UsersHarness) -> None:
        account = await users.signup("dom@example.com")
        created = await create_key(users, account, ["read", "trade"])
        response = await users.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "scopes": ["read"]},
            headers=bearer(created["key"]),
        )
        assert response.status_code == 403 and error_code(response) == "permission_denied"


class TestUseApiKey:
    async def test_ticks_write_key_cannot_read_signals(self, users: UsersHarness) -> None:
        account = await users.signup("eli@example.com")
        key = (await create_key(users, account, ["ticks:write"]))["key"]
        ticks = await users.client.post("/api/v1/probe/ticks", headers=bearer(key))
        assert ticks.status_code == 200
        signals = await users.client.get("/api/v1/probe/signals", headers=bearer(key))
        assert signals.status_code == 403 and error_code(signals) == "permission_denied"
        settings = await users.client.get("/api/v1/tenant/trading-settings", headers=bearer(key))
        assert settings.status_code == 403

    async def test_signals_read_key_reads_signals_of_its_tenant(self, users: UsersHarness) -> None:
        account = await users.signup("fin@example.com")
        key = (await create_key(users, account, ["signals:read"]))["key"]
        response = await users.client.get("/api/v1/probe/signals", headers=bearer(key))
        assert response.status_code == 200 and response.json() == {"tenant_id": account.tenant_id}

    async def test_use_is_recorded_as_last_used(self, users: UsersHarness) -> None:
        account = await users.signup("gia@example.com")
        key = (await create_key(users, account, ["read"]))["key"]
        assert (await users.client.get("/api/v1/users/me", headers=bearer(key))).is_success
        await users.authenticator.drain()
        (item,) = (await users.client.get("/api/v1/api-keys", headers=account.headers)).json()[
            "items"
        ]
        assert item["last_used_at"] is not None

    async def test_api_key_cannot_manage_sessions_or_profile(self, users: UsersHarness) -> None:
        account = await users.signup("hue@example.com")
        key = (await create_key(users, account, ["read"]))["key"]
        sessions = await users.client.get("/api/v1/auth/sessions", headers=bearer(key))
        assert sessions.status_code == 403 and error_code(sessions) == "session_required"
        patch = await users.client.patch(
            "/api/v1/users/me", json={"name": "x"}, headers=bearer(key)
        )
        assert error_code(patch) == "session_required"


class TestRevokeApiKey:
    async def test_revoked_key_stops_working_at_once(self, users: UsersHarness) -> None:
        account = await users.signup("ian@example.com")
        created = await create_key(users, account, ["signals:read"])
        key_headers = bearer(created["key"])
        assert (await users.client.get("/api/v1/probe/signals", headers=key_headers)).is_success
        response = await users.client.delete(
            f"/api/v1/api-keys/{created['id']}", headers=account.headers
        )
        assert response.status_code == 204
        refused = await users.client.get("/api/v1/probe/signals", headers=key_headers)
        assert refused.status_code == 401 and error_code(refused) == "invalid_credentials"
        listed = await users.client.get("/api/v1/api-keys", headers=account.headers)
        assert listed.json()["items"] == []
        again = await users.client.delete(
            f"/api/v1/api-keys/{created['id']}", headers=account.headers
        )
        assert again.status_code == 404 and error_code(again) == "api_key_not_found"

    async def test_demoted_creator_narrows_the_key(self, users: UsersHarness) -> None:
        owner = await users.signup("jen@example.com")
        admin = await users.signup("root@example.com")
        await users.make_superadmin("root@example.com")
        await users.set_tier(admin, owner.tenant_id, "enterprise")
        # A trader joins, makes a trading key, then is demoted to viewer.
        await users.client.post(
            "/api/v1/tenant/invitations",
            json={"email": "kit@example.com", "role": "trader"},
            headers=owner.headers,
        )
        token = (await users.event("users.invitation.created", email="kit@example.com"))["token"]
        accepted = await users.client.post(
            "/api/v1/auth/accept-invitation",
            json={"token": token, "password": "Correct-Horse-42"},
        )
        member_id = accepted.json()["user_id"]
        trader = (await users.login("kit@example.com")).json()
        key = (
            await users.client.post(
                "/api/v1/api-keys",
                json={"name": "bot", "scopes": ["trade", "signals:read"]},
                headers=bearer(trader["access_token"]),
            )
        ).json()["key"]
        assert (await users.client.post("/api/v1/probe/orders", headers=bearer(key))).is_success
        await users.client.patch(
            f"/api/v1/tenant/members/{member_id}", json={"role": "viewer"}, headers=owner.headers
        )
        orders = await users.client.post("/api/v1/probe/orders", headers=bearer(key))
        assert orders.status_code == 403 and error_code(orders) == "permission_denied"
        assert (await users.client.get("/api/v1/probe/signals", headers=bearer(key))).is_success
        viewer = await users.client.post(
            "/api/v1/api-keys",
            json={"name": "bot2", "scopes": ["trade"]},
            headers=bearer(trader["access_token"]),
        )
        assert viewer.status_code == 403 and error_code(viewer) == "permission_denied"
