"""Sign-up to sign-out through HTTP: register, verify, login, refresh rotation, reuse
detection, logout, and the ways a credential is refused."""

from __future__ import annotations

from pathlib import Path

import jwt

from tests.fixtures.database import sqlite_database
from tests.users.conftest import SECRET, UsersHarness, bearer, error_code, users_harness

VERIFICATION_TOPIC = "users.verification.requested"


class TestFullFlow:
    async def test_register_verify_login_refresh_reuse_logout(self, users: UsersHarness) -> None:
        registered = await users.register("Ada@Example.COM", name="Ada")
        assert registered.status_code == 201
        body = registered.json()
        assert set(body) == {"user_id", "tenant_id", "verification_required"}
        assert body["verification_required"] is False  # dev/test mode

        event = await users.event(VERIFICATION_TOPIC, user_id=body["user_id"])
        assert event["email"] == "ada@example.com" and event["tenant_id"] == body["tenant_id"]
        verified = await users.client.post("/api/v1/auth/verify", json={"token": event["token"]})
        assert verified.status_code == 200
        assert verified.json() == {"user_id": body["user_id"], "email_verified": True}

        login = await users.login("ada@example.com")
        assert login.status_code == 200
        first = login.json()
        assert first["token_type"] == "bearer" and first["expires_in"] == 900
        me = await users.client.get("/api/v1/users/me", headers=bearer(first["access_token"]))
        assert me.status_code == 200
        profile = me.json()
        assert profile["email"] == "ada@example.com" and profile["role"] == "owner"
        assert profile["tier"] == "free" and profile["email_verified"] is True
        assert profile["name"] == "Ada" and profile["locale"] == "en"

        rotated = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["session_id"] == first["session_id"]

        users.advance(11)  # past the reuse grace (10 s)
        reused = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert reused.status_code == 401 and error_code(reused) == "refresh_token_reused"
        # Reuse revoked the whole family: the successor and its access token are dead too.
        successor = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert successor.status_code == 401 and error_code(successor) == "session_revoked"
        me_again = await users.client.get(
            "/api/v1/users/me", headers=bearer(second["access_token"])
        )
        assert me_again.status_code == 401 and error_code(me_again) == "invalid_credentials"

        fresh = (await users.login("ada@example.com")).json()
        logout = await users.client.post(
            "/api/v1/auth/logout", json={"refresh_token": fresh["refresh_token"]}
        )
        assert logout.status_code == 204
        after = await users.client.get("/api/v1/users/me", headers=bearer(fresh["access_token"]))
        assert after.status_code == 401
        refused = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
        )
        assert error_code(refused) == "session_revoked"

    async def test_logout_with_unknown_token_is_no_content(self, users: UsersHarness) -> None:
        response = await users.client.post("/api/v1/auth/logout", json={"refresh_token": "nope"})
        assert response.status_code == 204


class TestRegister:
    async def test_same_email_in_other_case_is_answered_alike(self, users: UsersHarness) -> None:
        first = await users.register("bob@example.com")
        again = await users.register("  BOB@example.com ", password="Other-Horse-43")
        assert first.status_code == again.status_code == 201
        assert again.json()["user_id"] != first.json()["user_id"]
        # The first password still signs in: the second registration changed nothing.
        assert (await users.login("bob@example.com")).status_code == 200

    async def test_malformed_email_is_invalid_email(self, users: UsersHarness) -> None:
        response = await users.register("not-an-address")
        assert response.status_code == 422 and error_code(response) == "invalid_email"

    async def test_weak_password_lists_every_broken_rule(self, users: UsersHarness) -> None:
        response = await users.register("carol@example.com", password="carol")
        assert response.status_code == 422 and error_code(response) == "weak_password"
        rules = {d["rule"] for d in response.json()["error"]["details"]}
        assert rules == {"min_length", "character_classes", "contains_email"}
        assert "carol" not in response.json()["error"]["message"].replace("carol@", "")


class TestLogin:
    async def test_wrong_password_is_invalid_credentials(self, users: UsersHarness) -> None:
        await users.register("dan@example.com")
        response = await users.login("dan@example.com", "Wrong-Password-1")
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"
        assert "Wrong-Password-1" not in response.text

    async def test_unknown_email_gets_the_same_answer(self, users: UsersHarness) -> None:
        await users.register("erin@example.com")
        unknown = await users.login("nobody@example.com")
        wrong = await users.login("erin@example.com", "Wrong-Password-1")
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()

    async def test_unverified_when_required_is_forbidden(self, tmp_path: Path) -> None:
        database = sqlite_database(tmp_path)
        async with users_harness(database.url, requires_email_verification=True) as users:
            registered = await users.register("fay@example.com")
            assert registered.json()["verification_required"] is True
            refused = await users.login("fay@example.com")
            assert refused.status_code == 403 and error_code(refused) == "email_not_verified"
            event = await users.event(VERIFICATION_TOPIC, email="fay@example.com")
            await users.client.post("/api/v1/auth/verify", json={"token": event["token"]})
            assert (await users.login("fay@example.com")).status_code == 200


class TestVerificationToken:
    async def test_token_works_once(self, users: UsersHarness) -> None:
        registered = (await users.register("hal@example.com")).json()
        token = (await users.event(VERIFICATION_TOPIC, user_id=registered["user_id"]))["token"]
        assert (await users.client.post("/api/v1/auth/verify", json={"token": token})).is_success
        again = await users.client.post("/api/v1/auth/verify", json={"token": token})
        assert again.status_code == 422 and error_code(again) == "one_time_token_used"

    async def test_expired_token_is_refused(self, users: UsersHarness) -> None:
        registered = (await users.register("ivy@example.com")).json()
        token = (await users.event(VERIFICATION_TOPIC, user_id=registered["user_id"]))["token"]
        users.advance(48 * 3600 + 1)
        response = await users.client.post("/api/v1/auth/verify", json={"token": token})
        assert response.status_code == 422 and error_code(response) == "one_time_token_expired"

    async def test_unknown_token_is_refused(self, users: UsersHarness) -> None:
        response = await users.client.post("/api/v1/auth/verify", json={"token": "forged"})
        assert error_code(response) == "one_time_token_invalid"


class TestAccessTokenEndToEnd:
    async def test_expired_access_token_is_refused_and_refresh_recovers(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("jay@example.com")
        users.advance(901)
        expired = await users.client.get("/api/v1/users/me", headers=account.headers)
        assert expired.status_code == 401 and error_code(expired) == "token_expired"
        rotated = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert rotated.status_code == 200
        me = await users.client.get(
            "/api/v1/users/me", headers=bearer(rotated.json()["access_token"])
        )
        assert me.status_code == 200

    async def test_tampered_tokens_are_refused(self, users: UsersHarness) -> None:
        owner = await users.signup("kim@example.com")
        other = await users.signup("lee@example.com")
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        header, payload, signature = owner.access_token.split(".")
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
        moved = jwt.encode(
            {**claims, "tid": other.tenant_id}, "another-secret-key-that-is-long-enough-0123"
        )
        unsigned = jwt.encode({**claims, "tid": other.tenant_id}, None, algorithm="none")
        resigned = jwt.encode({**claims, "tid": other.tenant_id}, SECRET.get_secret_value())
        for token in (f"{header}.{payload}.{flipped}", moved, unsigned):
            response = await users.client.get("/api/v1/users/me", headers=bearer(token))
            assert response.status_code == 401 and error_code(response) == "invalid_token"
        # Even a validly signed token naming another tenant finds no session there.
        response = await users.client.get("/api/v1/users/me", headers=bearer(resigned))
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"

    async def test_expired_refresh_token_is_refused(self, users: UsersHarness) -> None:
        account = await users.signup("max@example.com")
        users.advance(30 * 86_400 + 1)
        response = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert response.status_code == 401 and error_code(response) == "refresh_token_expired"
