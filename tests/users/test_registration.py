"""Registration does not reveal which addresses have accounts: a taken address is answered
as a new one (201, same shape), nothing is created, and the owner is told instead."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from chainflow.users.models import Tenant, User
from tests.fixtures.database import ProvisionedDatabase
from tests.users.conftest import UsersHarness, error_code, users_harness

DUPLICATE_TOPIC = "users.registration.duplicate_attempted"
VERIFICATION_TOPIC = "users.verification.requested"
ID = re.compile(r"[0-9a-f]{32}")


async def count_rows(users: UsersHarness) -> tuple[int, int]:
    async with users.database.unit_of_work(system=True, read_only=True) as uow:
        user_count = await uow.session.scalar(select(func.count()).select_from(User))
        tenant_count = await uow.session.scalar(select(func.count()).select_from(Tenant))
    return int(user_count or 0), int(tenant_count or 0)


class TestRegisterTakenAddress:
    async def test_answer_has_the_shape_of_a_new_account(self, users: UsersHarness) -> None:
        new = await users.register("amy@example.com")
        taken = await users.register("Amy@Example.com", password="Another-Horse-77")
        assert new.status_code == taken.status_code == 201
        assert (
            set(new.json())
            == set(taken.json())
            == {
                "user_id",
                "tenant_id",
                "verification_required",
            }
        )
        assert ID.fullmatch(taken.json()["user_id"]) and ID.fullmatch(taken.json()["tenant_id"])
        assert taken.json()["user_id"] != new.json()["user_id"]
        assert taken.json()["tenant_id"] != new.json()["tenant_id"]
        assert taken.json()["verification_required"] == new.json()["verification_required"]
        assert taken.headers.keys() == new.headers.keys()

    async def test_nothing_is_created_or_changed(self, users: UsersHarness) -> None:
        await users.register("ben@example.com")
        before = await count_rows(users)
        fake = (await users.register("ben@example.com", password="Another-Horse-77")).json()
        assert await count_rows(users) == before
        assert (await users.login("ben@example.com")).status_code == 200
        assert (await users.login("ben@example.com", "Another-Horse-77")).status_code == 401
        subjects = await users.settled_subjects()
        assert subjects.count(VERIFICATION_TOPIC) == 1
        assert all(p.get("user_id") != fake["user_id"] for _, p in users.events)

    async def test_owner_is_told_once_an_hour(self, users: UsersHarness) -> None:
        owner = (await users.register("cat@example.com")).json()
        for _ in range(3):
            assert (await users.register("cat@example.com")).status_code == 201
        event = await users.event(DUPLICATE_TOPIC, user_id=owner["user_id"])
        assert event["email"] == "cat@example.com"
        assert event["tenant_id"] == owner["tenant_id"]
        assert event["ip"] == "127.0.0.1" and event["locale"] == "en"
        assert (await users.settled_subjects()).count(DUPLICATE_TOPIC) == 1
        users.advance(3601)
        assert (await users.register("cat@example.com")).status_code == 201
        assert (await users.settled_subjects()).count(DUPLICATE_TOPIC) == 2

    async def test_new_address_tells_nobody_of_a_duplicate(self, users: UsersHarness) -> None:
        await users.register("dee@example.com")
        assert DUPLICATE_TOPIC not in await users.settled_subjects()

    async def test_weak_password_is_refused_alike(self, users: UsersHarness) -> None:
        await users.register("eve@example.com")
        taken = await users.register("eve@example.com", password="short")
        new = await users.register("fay@example.com", password="short")
        assert taken.status_code == new.status_code == 422
        assert error_code(taken) == error_code(new) == "weak_password"

    async def test_concurrent_registrations_of_one_address_create_one(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        async with users_harness(fresh_database.url) as users:
            answers = await asyncio.gather(*(users.register("gus@example.com") for _ in range(4)))
            assert [answer.status_code for answer in answers] == [201] * 4
            assert await count_rows(users) == (1, 1)
