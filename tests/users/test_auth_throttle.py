"""Brute-force throttling over HTTP: sign-in per address and per client, the same for
unknown addresses, the owner told of a lock; password-reset requests and token
redemptions throttled per client. Locks end on the simulated clock."""

from __future__ import annotations

from pathlib import Path

import httpx

from chainflow.core.settings import AuthSettings
from tests.fixtures.database import sqlite_database
from tests.users.conftest import PASSWORD, UsersHarness, error_code, users_harness

WRONG = "Wrong-Horse-99"
LOCKED_TOPIC = "users.sign_in.locked"
RESET_TOPIC = "users.password_reset.requested"


def is_lock(response: httpx.Response, retry_after_s: int, scope: str) -> bool:
    body = response.json()
    return (
        response.status_code == 429
        and response.headers["Retry-After"] == str(retry_after_s)
        and set(body) == {"error"}
        and body["error"]["code"] == "too_many_attempts"
        and body["error"]["details"]["scope"] == scope
    )


async def statuses_of_wrong_logins(users: UsersHarness, email: str, count: int) -> list[int]:
    return [(await users.login(email, WRONG)).status_code for _ in range(count)]


class TestSignInPerAddress:
    async def test_40_wrong_passwords_lock_after_5(self, users: UsersHarness) -> None:
        await users.register("ann@example.com")
        statuses = await statuses_of_wrong_logins(users, "ann@example.com", 40)
        assert statuses == [401] * 5 + [429] * 35
        refused = await users.login("ann@example.com", WRONG)
        assert is_lock(refused, 60, "address")
        assert "ann@example.com" not in refused.text and WRONG not in refused.text

    async def test_right_password_during_the_lock_is_refused(self, users: UsersHarness) -> None:
        await users.register("bea@example.com")
        await statuses_of_wrong_logins(users, "bea@example.com", 6)
        users.advance(30)
        assert is_lock(await users.login("bea@example.com"), 30, "address")

    async def test_lock_ends_and_the_next_one_is_twice_as_long(self, users: UsersHarness) -> None:
        await users.register("cal@example.com")
        await statuses_of_wrong_logins(users, "cal@example.com", 6)
        users.advance(61)
        assert await statuses_of_wrong_logins(users, "cal@example.com", 6) == [401] * 5 + [429]
        assert is_lock(await users.login("cal@example.com"), 120, "address")
        users.advance(121)
        assert (await users.login("cal@example.com")).status_code == 200

    async def test_locks_double_up_to_the_longest(self, users: UsersHarness) -> None:
        await users.register("dov@example.com")
        for lock_s in (60, 120, 240, 480, 900, 900):
            await statuses_of_wrong_logins(users, "dov@example.com", 6)
            assert is_lock(await users.login("dov@example.com"), lock_s, "address")
            users.advance(lock_s + 1)

    async def test_a_success_forgets_the_failures(self, users: UsersHarness) -> None:
        await users.register("eda@example.com")
        assert await statuses_of_wrong_logins(users, "eda@example.com", 4) == [401] * 4
        assert (await users.login("eda@example.com")).status_code == 200
        assert await statuses_of_wrong_logins(users, "eda@example.com", 5) == [401] * 5

    async def test_unknown_address_locks_alike(self, users: UsersHarness) -> None:
        await users.register("fin@example.com")
        known = await statuses_of_wrong_logins(users, "fin@example.com", 8)
        unknown = await statuses_of_wrong_logins(users, "ghost@example.com", 8)
        malformed = await statuses_of_wrong_logins(users, "not-an-address", 8)
        assert known == unknown == malformed == [401] * 5 + [429] * 3
        refused_known = await users.login("fin@example.com", WRONG)
        refused_unknown = await users.login("ghost@example.com", WRONG)
        assert refused_known.json() == refused_unknown.json()
        assert refused_known.headers["Retry-After"] == refused_unknown.headers["Retry-After"]

    async def test_lock_tells_the_owner_once(self, users: UsersHarness) -> None:
        registered = (await users.register("gia@example.com")).json()
        await statuses_of_wrong_logins(users, "gia@example.com", 10)
        event = await users.event(LOCKED_TOPIC, user_id=registered["user_id"])
        assert event["email"] == "gia@example.com"
        assert event["tenant_id"] == registered["tenant_id"]
        assert event["failed_attempts"] == 5 and event["lock_s"] == 60
        assert event["locked_until_ms"] == event["ts_event_ms"] + 60_000
        assert event["ip"] == "127.0.0.1"
        assert (await users.settled_subjects()).count(LOCKED_TOPIC) == 1

    async def test_unknown_address_lock_publishes_nothing(self, users: UsersHarness) -> None:
        await statuses_of_wrong_logins(users, "nobody@example.com", 10)
        assert LOCKED_TOPIC not in await users.settled_subjects()


class TestSignInPerClient:
    async def test_one_client_is_locked_across_many_addresses(self, users: UsersHarness) -> None:
        await users.register("hal@example.com")
        async with users.client_from("203.0.113.9") as attacker:
            for i in range(20):
                body = {"email": f"victim{i}@example.com", "password": WRONG}
                assert (await attacker.post("/api/v1/auth/login", json=body)).status_code == 401
            body = {"email": "hal@example.com", "password": PASSWORD}
            refused = await attacker.post("/api/v1/auth/login", json=body)
        assert is_lock(refused, 300, "client")
        # Another client signs in to the same account.
        assert (await users.login("hal@example.com")).status_code == 200
        users.advance(301)
        async with users.client_from("203.0.113.9") as attacker:
            assert (await attacker.post("/api/v1/auth/login", json=body)).status_code == 200

    async def test_ipv6_client_counts_by_its_64_network(self, users: UsersHarness) -> None:
        for i in range(20):
            async with users.client_from(f"2001:db8:1:2::{i + 1:x}") as client:
                body = {"email": f"v{i}@example.com", "password": WRONG}
                assert (await client.post("/api/v1/auth/login", json=body)).status_code == 401
        async with users.client_from("2001:db8:1:2:ffff::1") as client:
            body = {"email": "other@example.com", "password": WRONG}
            assert is_lock(await client.post("/api/v1/auth/login", json=body), 300, "client")

    async def test_forwarded_for_is_ignored_unless_trusted(self, users: UsersHarness) -> None:
        for i in range(20):
            await users.client.post(
                "/api/v1/auth/login",
                json={"email": f"w{i}@example.com", "password": WRONG},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
        refused = await users.client.post(
            "/api/v1/auth/login",
            json={"email": "x@example.com", "password": WRONG},
            headers={"X-Forwarded-For": "198.51.100.200"},
        )
        assert is_lock(refused, 300, "client")

    async def test_trusted_forwarded_for_counts_its_last_entry(self, tmp_path: Path) -> None:
        auth = AuthSettings(trust_forwarded_for=True)
        async with users_harness(sqlite_database(tmp_path).url, auth=auth) as users:
            for i in range(21):
                await users.client.post(
                    "/api/v1/auth/login",
                    json={"email": f"w{i}@example.com", "password": WRONG},
                    headers={"X-Forwarded-For": f"10.0.0.{i}, 198.51.100.7"},
                )
            locked = await users.login("y@example.com", WRONG)
            assert locked.status_code == 401  # the proxy's own address is not locked
            refused = await users.client.post(
                "/api/v1/auth/login",
                json={"email": "z@example.com", "password": WRONG},
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
            assert is_lock(refused, 300, "client")


class TestPasswordResetRequest:
    async def test_sixth_request_for_an_address_is_refused(self, users: UsersHarness) -> None:
        await users.register("ivo@example.com")
        body = {"email": "ivo@example.com"}
        statuses = [
            (await users.client.post("/api/v1/auth/password-reset", json=body)).status_code
            for _ in range(6)
        ]
        assert statuses == [202] * 5 + [429]
        assert (await users.settled_subjects()).count(RESET_TOPIC) == 5
        users.advance(61)
        assert (await users.client.post("/api/v1/auth/password-reset", json=body)).is_success

    async def test_one_client_is_refused_across_addresses(self, users: UsersHarness) -> None:
        statuses = [
            (
                await users.client.post(
                    "/api/v1/auth/password-reset", json={"email": f"r{i}@example.com"}
                )
            ).status_code
            for i in range(21)
        ]
        assert statuses == [202] * 20 + [429]


class TestTokenRedemption:
    async def test_forged_verification_tokens_lock_the_client(self, users: UsersHarness) -> None:
        registered = (await users.register("jo@example.com")).json()
        token = (await users.event("users.verification.requested", user_id=registered["user_id"]))[
            "token"
        ]
        for i in range(20):
            forged = await users.client.post("/api/v1/auth/verify", json={"token": f"forged-{i}"})
            assert error_code(forged) == "one_time_token_invalid"
        refused = await users.client.post("/api/v1/auth/verify", json={"token": token})
        assert is_lock(refused, 300, "client")
        async with users.client_from("192.0.2.44") as other:
            assert (await other.post("/api/v1/auth/verify", json={"token": token})).is_success

    async def test_forged_reset_tokens_lock_the_client(self, users: UsersHarness) -> None:
        body = {"token": "forged", "password": "Brand-New-Pass-7"}
        for _ in range(20):
            response = await users.client.post("/api/v1/auth/password-reset/confirm", json=body)
            assert error_code(response) == "one_time_token_invalid"
        refused = await users.client.post("/api/v1/auth/password-reset/confirm", json=body)
        assert is_lock(refused, 300, "client")

    async def test_forged_invitations_lock_the_client(self, users: UsersHarness) -> None:
        body = {"token": "forged", "password": "Brand-New-Pass-7"}
        for _ in range(20):
            response = await users.client.post("/api/v1/auth/accept-invitation", json=body)
            assert error_code(response) == "invitation_invalid"
        refused = await users.client.post("/api/v1/auth/accept-invitation", json=body)
        assert is_lock(refused, 300, "client")
