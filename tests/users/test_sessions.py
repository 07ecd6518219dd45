"""Sessions: listing, revoking (the access token dies at once), password reset, and two
concurrent rotations of one refresh token."""

from __future__ import annotations

import asyncio

from chainflow.core.ids import TenantId
from chainflow.core.settings import AuthSettings
from chainflow.core.tenancy import TenantContext
from chainflow.core.tokens import hash_token
from chainflow.users.repository import CrossTenantLookup, RefreshTokenRepository
from tests.fixtures.database import ProvisionedDatabase
from tests.users.conftest import UsersHarness, bearer, error_code, users_harness

RESET_TOPIC = "users.password_reset.requested"


class TestListSessions:
    async def test_lists_active_sessions_and_marks_the_current(self, users: UsersHarness) -> None:
        first = await users.signup("ana@example.com")
        users.advance(5)
        second = (
            await users.client.post(
                "/api/v1/auth/login",
                json={"email": "ana@example.com", "password": "Correct-Horse-42"},
                headers={"User-Agent": "MetaTrader/5"},
            )
        ).json()
        response = await users.client.get("/api/v1/auth/sessions", headers=first.headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["session_id"] for i in items] == [second["session_id"], first.session_id]
        assert [i["current"] for i in items] == [False, True]
        assert items[0]["user_agent"] == "MetaTrader/5"

    async def test_rotation_keeps_the_start_and_moves_the_last_refresh(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("ben@example.com")
        users.advance(60)
        rotated = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        headers = bearer(rotated.json()["access_token"])
        (item,) = (await users.client.get("/api/v1/auth/sessions", headers=headers)).json()["items"]
        assert item["started_at"] < item["last_refreshed_at"]


class TestRevokeSession:
    async def test_revoked_session_access_token_fails_immediately(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("cy@example.com")
        other = (await users.login("cy@example.com")).json()
        # Warm the gateway's principal cache for the session about to be revoked.
        assert (await users.client.get("/api/v1/users/me", headers=account.headers)).is_success
        response = await users.client.delete(
            f"/api/v1/auth/sessions/{account.session_id}", headers=bearer(other["access_token"])
        )
        assert response.status_code == 204
        after = await users.client.get("/api/v1/users/me", headers=account.headers)
        assert after.status_code == 401 and error_code(after) == "invalid_credentials"
        still = await users.client.get("/api/v1/users/me", headers=bearer(other["access_token"]))
        assert still.status_code == 200
        refresh = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert error_code(refresh) == "session_revoked"

    async def test_unknown_or_revoked_session_is_not_found(self, users: UsersHarness) -> None:
        account = await users.signup("dee@example.com")
        response = await users.client.delete(
            "/api/v1/auth/sessions/0123456789abcdef", headers=account.headers
        )
        assert response.status_code == 404 and error_code(response) == "session_not_found"

    async def test_another_users_session_is_not_found(self, users: UsersHarness) -> None:
        mine = await users.signup("eve@example.com")
        theirs = await users.signup("fox@example.com")
        response = await users.client.delete(
            f"/api/v1/auth/sessions/{theirs.session_id}", headers=mine.headers
        )
        assert response.status_code == 404
        assert (await users.client.get("/api/v1/users/me", headers=theirs.headers)).is_success


class TestPasswordReset:
    async def test_reset_is_accepted_whether_or_not_the_account_exists(
        self, users: UsersHarness
    ) -> None:
        await users.register("gil@example.com")
        known = await users.client.post(
            "/api/v1/auth/password-reset", json={"email": "gil@example.com"}
        )
        unknown = await users.client.post(
            "/api/v1/auth/password-reset", json={"email": "ghost@example.com"}
        )
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        await users.event(RESET_TOPIC, email="gil@example.com")
        assert all(p.get("email") != "ghost@example.com" for _, p in users.events)

    async def test_token_sets_the_password_once_and_signs_out_everywhere(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("hex@example.com")
        await users.client.post("/api/v1/auth/password-reset", json={"email": "hex@example.com"})
        token = (await users.event(RESET_TOPIC, email="hex@example.com"))["token"]
        weak = await users.client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"}
        )
        assert error_code(weak) == "weak_password"  # and the token is not spent
        body = {"token": token, "password": "Brand-New-Pass-7"}
        confirmed = await users.client.post("/api/v1/auth/password-reset/confirm", json=body)
        assert confirmed.status_code == 204
        again = await users.client.post("/api/v1/auth/password-reset/confirm", json=body)
        assert again.status_code == 422 and error_code(again) == "one_time_token_used"
        assert (
            await users.client.get("/api/v1/users/me", headers=account.headers)
        ).status_code == 401
        assert (await users.login("hex@example.com")).status_code == 401
        assert (await users.login("hex@example.com", "Brand-New-Pass-7")).status_code == 200

    async def test_expired_reset_token_is_refused(self, users: UsersHarness) -> None:
        await users.register("ida@example.com")
        await users.client.post("/api/v1/auth/password-reset", json={"email": "ida@example.com"})
        token = (await users.event(RESET_TOPIC, email="ida@example.com"))["token"]
        users.advance(3601)
        response = await users.client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": token, "password": "Brand-New-Pass-7"},
        )
        assert error_code(response) == "one_time_token_expired"

    async def test_a_newer_reset_token_retires_the_older(self, users: UsersHarness) -> None:
        await users.register("jon@example.com")
        tokens = []
        for _ in range(2):
            await users.client.post(
                "/api/v1/auth/password-reset", json={"email": "jon@example.com"}
            )
            tokens.append((await users.event(RESET_TOPIC, email="jon@example.com"))["token"])
            users.advance(1)
        old = await users.client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": tokens[0], "password": "Brand-New-Pass-7"},
        )
        assert error_code(old) == "one_time_token_used"


class TestConcurrentRefresh:
    async def test_two_rotations_of_one_token_exactly_one_wins(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        no_grace = AuthSettings(refresh_reuse_grace_s=0)
        async with users_harness(fresh_database.url, auth=no_grace) as users:
            account = await users.signup("kai@example.com")
            body = {"refresh_token": account.refresh_token}
            responses = await asyncio.gather(
                users.client.post("/api/v1/auth/refresh", json=body),
                users.client.post("/api/v1/auth/refresh", json=body),
            )
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 401]
            loser = next(r for r in responses if r.status_code == 401)
            assert error_code(loser) == "refresh_token_reused"

    async def test_conditional_update_lets_one_of_two_open_transactions_win(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        async with users_harness(fresh_database.url) as users:
            account = await users.signup("lou@example.com")
            async with users.database.unit_of_work(system=True) as uow:
                row = await CrossTenantLookup(uow.session).refresh_token_by_hash(
                    hash_token(account.refresh_token)
                )
            assert row is not None
            tenant = TenantContext(tenant_id=TenantId(row.tenant_id))
            first_has_updated = asyncio.Event()

            async def rotate(replaced_by: str, *, hold: bool) -> bool:
                if not hold:
                    await first_has_updated.wait()
                async with users.database.unit_of_work(system=True) as uow:
                    won = await RefreshTokenRepository(uow.session, tenant).mark_used(
                        row.id, used_at=users.clock.now(), replaced_by=replaced_by
                    )
                    if hold:
                        first_has_updated.set()
                        await asyncio.sleep(0.2)  # keep the row locked, uncommitted
                return won

            results = await asyncio.gather(
                rotate("a" * 32, hold=True), rotate("b" * 32, hold=False)
            )
            assert results == [True, False]


class TestReuseGrace:
    """A rotated token presented again soon, its successor unused, continues the session."""

    async def test_a_lost_answer_is_retried_and_the_session_lives_on(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("ren@example.com")
        body = {"refresh_token": account.refresh_token}
        lost = await users.client.post("/api/v1/auth/refresh", json=body)
        assert lost.status_code == 200  # the answer never reached the page
        users.advance(3)
        retried = await users.client.post("/api/v1/auth/refresh", json=body)
        assert retried.status_code == 200, retried.text
        pair = retried.json()
        assert pair["session_id"] == lost.json()["session_id"]
        assert pair["refresh_token"] != lost.json()["refresh_token"]
        # One session listed (the newest token stands for it), and it keeps rotating.
        listed = await users.client.get(
            "/api/v1/auth/sessions", headers=bearer(pair["access_token"])
        )
        assert listed.status_code == 200
        assert [s["session_id"] for s in listed.json()["items"]] == [pair["session_id"]]
        onward = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert onward.status_code == 200

    async def test_two_tabs_refreshing_at_once_both_continue(self, users: UsersHarness) -> None:
        account = await users.signup("sol@example.com")
        body = {"refresh_token": account.refresh_token}
        responses = await asyncio.gather(
            users.client.post("/api/v1/auth/refresh", json=body),
            users.client.post("/api/v1/auth/refresh", json=body),
        )
        assert [r.status_code for r in responses] == [200, 200]
        assert len({r.json()["session_id"] for r in responses}) == 1

    async def test_after_the_grace_a_second_use_revokes_the_session(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("tam@example.com")
        body = {"refresh_token": account.refresh_token}
        rotated = (await users.client.post("/api/v1/auth/refresh", json=body)).json()
        users.advance(10.5)
        reused = await users.client.post("/api/v1/auth/refresh", json=body)
        assert reused.status_code == 401 and error_code(reused) == "refresh_token_reused"
        successor = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
        )
        assert error_code(successor) == "session_revoked"

    async def test_once_the_successor_was_used_any_second_use_is_a_reuse(
        self, users: UsersHarness
    ) -> None:
        account = await users.signup("uma@example.com")
        body = {"refresh_token": account.refresh_token}
        rotated = (await users.client.post("/api/v1/auth/refresh", json=body)).json()
        onward = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
        )
        assert onward.status_code == 200
        reused = await users.client.post("/api/v1/auth/refresh", json=body)
        assert reused.status_code == 401 and error_code(reused) == "refresh_token_reused"
        latest = await users.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": onward.json()["refresh_token"]}
        )
        assert error_code(latest) == "session_revoked"
