"""Platform administration: tier changes, limit overrides and verification tokens."""

from __future__ import annotations

from chainflow.core.auth import TIER_LIMITS, Tier
from tests.users.conftest import UsersHarness, bearer, error_code


class TestChangeTier:
    async def test_tier_change_shows_at_once_in_profile_and_limits(
        self, users: UsersHarness
    ) -> None:
        customer = await users.signup("cust@example.com")
        root = await users.signup("root@example.com")
        await users.make_superadmin("root@example.com")
        before = (await users.client.get("/api/v1/users/me", headers=customer.headers)).json()
        assert before["tier"] == "free"
        assert before["limits"] == TIER_LIMITS[Tier.FREE].to_dict()

        response = await users.set_tier(root, customer.tenant_id, "pro")
        assert response.status_code == 200
        assert response.json()["tier"] == "pro"

        after = (await users.client.get("/api/v1/users/me", headers=customer.headers)).json()
        assert after["tier"] == "pro"
        assert after["limits"] == TIER_LIMITS[Tier.PRO].to_dict()
        overview = await users.client.get("/api/v1/me/overview", headers=customer.headers)
        assert overview.json()["profile"]["tier"] == "pro"
        event = await users.event("users.tier.changed", tenant_id=customer.tenant_id)
        assert event["previous_tier"] == "free" and event["tier"] == "pro"
        assert event["changed_by"] == root.user_id

    async def test_only_a_superadmin_changes_tiers(self, users: UsersHarness) -> None:
        customer = await users.signup("self@example.com")
        response = await users.set_tier(customer, customer.tenant_id, "enterprise")
        assert response.status_code == 403 and error_code(response) == "permission_denied"

    async def test_unknown_tier_and_tenant_have_their_codes(self, users: UsersHarness) -> None:
        root = await users.signup("op@example.com")
        await users.make_superadmin("op@example.com")
        bad_tier = await users.set_tier(root, root.tenant_id, "platinum")
        assert bad_tier.status_code == 422 and error_code(bad_tier) == "invalid_tier"
        missing = await users.set_tier(root, "0" * 32, "pro")
        assert missing.status_code == 404 and error_code(missing) == "tenant_not_found"

    async def test_api_keys_of_the_tenant_see_the_new_tier(self, users: UsersHarness) -> None:
        customer = await users.signup("keys@example.com")
        root = await users.signup("boss@example.com")
        await users.make_superadmin("boss@example.com")
        key = (
            await users.client.post(
                "/api/v1/api-keys", json={"name": "t", "scopes": ["read"]}, headers=customer.headers
            )
        ).json()["key"]
        assert (await users.client.get("/api/v1/users/me", headers=bearer(key))).json()[
            "tier"
        ] == "free"
        await users.set_tier(root, customer.tenant_id, "enterprise")
        overview = (await users.client.get("/api/v1/me/overview", headers=bearer(key))).json()
        assert overview["limits"]["rest_requests_per_minute"] == 6000


class TestLimitOverrides:
    async def test_overrides_apply_on_top_of_the_tier(self, users: UsersHarness) -> None:
        customer = await users.signup("vip@example.com")
        root = await users.signup("adm@example.com")
        await users.make_superadmin("adm@example.com")
        response = await users.client.put(
            f"/api/v1/admin/tenants/{customer.tenant_id}/limits",
            json={"overrides": {"backtests_per_day": 50, "features": ["walk_forward"]}},
            headers=root.headers,
        )
        assert response.status_code == 200
        limits = (await users.client.get("/api/v1/users/me", headers=customer.headers)).json()[
            "limits"
        ]
        assert limits["backtests_per_day"] == 50 and limits["features"] == ["walk_forward"]
        assert limits["rest_requests_per_minute"] == 60
        shown = await users.client.get(
            f"/api/v1/admin/tenants/{customer.tenant_id}", headers=root.headers
        )
        assert shown.json()["limit_overrides"] == {
            "backtests_per_day": 50,
            "features": ["walk_forward"],
        }

    async def test_bad_overrides_are_refused_with_every_problem(self, users: UsersHarness) -> None:
        root = await users.signup("ops@example.com")
        await users.make_superadmin("ops@example.com")
        response = await users.client.put(
            f"/api/v1/admin/tenants/{root.tenant_id}/limits",
            json={"overrides": {"bogus": 1, "custom_models": -1, "features": ["flying"]}},
            headers=root.headers,
        )
        assert response.status_code == 422 and error_code(response) == "invalid_limit_overrides"
        assert len(response.json()["error"]["details"]) == 3


class TestVerificationToken:
    async def test_superadmin_sees_a_fresh_token_that_verifies(self, users: UsersHarness) -> None:
        registered = (await users.register("new@example.com")).json()
        root = await users.signup("sup@example.com")
        await users.make_superadmin("sup@example.com")
        issued = await users.client.post(
            f"/api/v1/admin/users/{registered['user_id']}/verification-token",
            headers=root.headers,
        )
        assert issued.status_code == 201
        token = issued.json()["token"]
        # The fresh token replaced the one sent at registration.
        first = users.events[0][1]["token"]
        old = await users.client.post("/api/v1/auth/verify", json={"token": first})
        assert error_code(old) == "one_time_token_used"
        verified = await users.client.post("/api/v1/auth/verify", json={"token": token})
        assert verified.status_code == 200
        again = await users.client.post(
            f"/api/v1/admin/users/{registered['user_id']}/verification-token",
            headers=root.headers,
        )
        assert again.status_code == 409 and error_code(again) == "email_already_verified"

    async def test_only_a_superadmin_sees_tokens(self, users: UsersHarness) -> None:
        account = await users.signup("peek@example.com")
        response = await users.client.post(
            f"/api/v1/admin/users/{account.user_id}/verification-token", headers=account.headers
        )
        assert response.status_code == 403
