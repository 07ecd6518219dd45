"""The caller's profile: ``GET``/``PATCH /api/v1/users/me`` and the overview's profile part."""

from __future__ import annotations

from tests.users.conftest import UsersHarness, error_code


class TestUpdateProfile:
    async def test_name_locale_and_timezone_are_stored(self, users: UsersHarness) -> None:
        account = await users.signup("pat@example.com")
        response = await users.client.patch(
            "/api/v1/users/me",
            json={"name": "  Pat Doe ", "locale": "id", "timezone": "Asia/Jakarta"},
            headers=account.headers,
        )
        assert response.status_code == 200
        profile = (await users.client.get("/api/v1/users/me", headers=account.headers)).json()
        assert (profile["name"], profile["locale"], profile["timezone"]) == (
            "Pat Doe",
            "id",
            "Asia/Jakarta",
        )

    async def test_fields_left_out_are_kept(self, users: UsersHarness) -> None:
        account = await users.signup("quin@example.com")
        await users.client.patch(
            "/api/v1/users/me", json={"timezone": "Europe/Paris"}, headers=account.headers
        )
        response = await users.client.patch(
            "/api/v1/users/me", json={"name": "Quin"}, headers=account.headers
        )
        assert response.json()["timezone"] == "Europe/Paris" and response.json()["name"] == "Quin"

    async def test_unknown_locale_and_timezone_have_their_codes(self, users: UsersHarness) -> None:
        account = await users.signup("rae@example.com")
        locale = await users.client.patch(
            "/api/v1/users/me", json={"locale": "fr"}, headers=account.headers
        )
        assert locale.status_code == 422 and error_code(locale) == "invalid_locale"
        for zone in ("Mars/Olympus", "../etc/passwd", ""):
            response = await users.client.patch(
                "/api/v1/users/me", json={"timezone": zone}, headers=account.headers
            )
            assert response.status_code == 422 and error_code(response) == "invalid_timezone"


class TestOverview:
    async def test_overview_carries_the_profile(self, users: UsersHarness) -> None:
        account = await users.signup("sid@example.com")
        response = await users.client.get("/api/v1/me/overview", headers=account.headers)
        assert response.status_code == 200
        profile = response.json()["profile"]
        assert profile["email"] == "sid@example.com" and profile["tier"] == "free"
