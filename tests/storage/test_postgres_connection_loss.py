"""PostgreSQL connections are pinged only after sitting idle in the pool (not at every
checkout, as ``pool_pre_ping`` would), and one dropped while idle is replaced before use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text

import chainflow.storage.relational.database as database_module
from chainflow.core.settings import DatabaseSettings
from chainflow.storage.relational import Database
from tests.fixtures.backends import require_backend
from tests.fixtures.database import (
    ProvisionedDatabase,
    _run_as_superuser,
    create_postgresql_database,
    drop_postgresql_database,
)


@pytest.fixture
async def postgres() -> AsyncIterator[ProvisionedDatabase]:
    admin_url = require_backend("postgres")
    database = await create_postgresql_database(admin_url)
    try:
        yield database
    finally:
        await drop_postgresql_database(admin_url, database)


@pytest.fixture
def pings() -> Iterator[list[Any]]:
    """The connections the pool pinged before handing them out."""
    pinged: list[Any] = []
    yield pinged


def counting_pings(database: Database, pinged: list[Any]) -> None:
    dialect = database.engine.dialect
    ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pinged.append(dbapi_connection)
        return ping(dbapi_connection)

    dialect.do_ping = do_ping  # type: ignore[method-assign]


async def backend_pid(database: Database) -> int:
    async with database.unit_of_work(system=True, read_only=True) as uow:
        return int((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def one_connection(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_size=1, max_overflow=0)


async def test_a_connection_in_steady_use_is_not_pinged(
    postgres: ProvisionedDatabase, pings: list[Any]
) -> None:
    database = Database(postgres.url, one_connection(postgres.url))
    counting_pings(database, pings)
    try:
        first = await backend_pid(database)
        second = await backend_pid(database)
    finally:
        await database.dispose()
    assert first == second and pings == []


async def test_an_idle_connection_dropped_by_the_server_is_replaced_before_use(
    postgres: ProvisionedDatabase, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "IDLE_PING_AFTER_S", 0.0)  # every reuse is "idle"
    database = Database(postgres.url, one_connection(postgres.url))
    counting_pings(database, pings)
    try:
        dropped = await backend_pid(database)
        assert postgres.superuser_url is not None
        await _run_as_superuser(postgres.superuser_url, f"SELECT pg_terminate_backend({dropped})")

        replacement = await backend_pid(database)
    finally:
        await database.dispose()
    assert replacement != dropped and len(pings) == 1
