"""Sign-in under load: a flood of concurrent logins on embedded SQLite answers only 200, 401
or 429, never 500 ("database is locked" or a pool timeout)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from chainflow.core.settings import DatabaseSettings
from chainflow.users.passwords import Argon2PasswordHasher
from chainflow.users.service.sessions import ClientInfo
from tests.fixtures.database import sqlite_database
from tests.users.conftest import PASSWORD, UsersHarness, users_harness

FLOOD = 64
ACCOUNTS = 16
WRONG_PASSWORD = "Wrong-Horse-99"
ANSWERS_OF_A_FLOOD = {200, 401, 429}


async def login_from(users: UsersHarness, ip: str, email: str, password: str) -> httpx.Response:
    async with users.client_from(ip) as client:
        return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


class TestLoginFlood:
    async def test_64_concurrent_logins_never_answer_500(self, tmp_path: Path) -> None:
        # argon2 at its production cost, and a pool whose callers wait 5 s at most. When the
        # password was checked inside the write transaction, each login held the SQLite write
        # lock and a connection for its whole argon2 run: the flood waited in line past the
        # pool timeout (and past SQLite's busy timeout) and a third of it answered 500.
        url = sqlite_database(tmp_path).url
        pool = DatabaseSettings(url=url, pool_size=4, max_overflow=0, pool_timeout_s=5)
        hasher = Argon2PasswordHasher()
        async with users_harness(url, passwords=hasher, database_settings=pool) as users:
            emails = [f"flood{i}@example.com" for i in range(ACCOUNTS)]
            for email in emails:
                assert (await users.register(email)).status_code == 201
            # Half right, half wrong; four attempts per account stay under its limit of 5.
            attempts = [
                (f"10.1.{i}.7", emails[i % ACCOUNTS], PASSWORD if i % 2 else WRONG_PASSWORD)
                for i in range(FLOOD)
            ]
            answers = await asyncio.gather(*(login_from(users, *a) for a in attempts))
        statuses = Counter(answer.status_code for answer in answers)
        assert set(statuses) <= ANSWERS_OF_A_FLOOD, statuses
        expected = [200 if password == PASSWORD else 401 for _, _, password in attempts]
        assert [answer.status_code for answer in answers] == expected

    async def test_flood_from_one_client_is_throttled_not_failed(self, users: UsersHarness) -> None:
        emails = [f"crowd{i}@example.com" for i in range(ACCOUNTS)]
        for email in emails:
            assert (await users.register(email)).status_code == 201
        answers = await asyncio.gather(
            *(
                users.login(emails[i % ACCOUNTS], PASSWORD if i % 4 == 0 else WRONG_PASSWORD)
                for i in range(FLOOD)
            )
        )
        statuses = Counter(answer.status_code for answer in answers)
        assert set(statuses) <= ANSWERS_OF_A_FLOOD, statuses
        # 48 wrong passwords from one client address pass its limit of 20.
        assert statuses[429] > 0


class TestRehashOnLogin:
    async def test_hash_with_old_parameters_is_replaced_and_still_signs_in(
        self, tmp_path: Path
    ) -> None:
        url = sqlite_database(tmp_path).url
        weak = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
        async with users_harness(url, passwords=weak) as users:
            assert (await users.register("old@example.com")).status_code == 201
        stronger = Argon2PasswordHasher(time_cost=2, memory_cost_kib=16, parallelism=1)
        async with users_harness(url, passwords=stronger) as users:
            assert (await users.login("old@example.com")).status_code == 200
            async with users.database.unit_of_work(system=True, read_only=True) as uow:
                account = await users.service.sign_in.find_account(
                    uow, await users.service.sign_in.check("old@example.com", ClientInfo())
                )
            assert account is not None and "m=16,t=2" in account.password_hash
            assert (await users.login("old@example.com")).status_code == 200
