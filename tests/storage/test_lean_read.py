"""``Database.lean_read``: a read-only unit of work without an ORM session.

On PostgreSQL the application's role is neither superuser nor BYPASSRLS, so row-level
security applies: the statements here read ``signals`` without any tenant filter of their
own, and what they see is what RLS lets through. The pool holds one connection, so every
read after the first runs on the connection the one before returned (or on its
replacement): a setting that outlived its read would show in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

from chainflow.core.ids import TenantId
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database, ReadStatement, upgrade
from chainflow.trading.events import SignalIssued
from chainflow.trading.models import SignalRecord
from chainflow.trading.repository import SignalRepository
from tests.fixtures.database import ProvisionedDatabase
from tests.fixtures.database import _run_as_superuser as as_superuser

OURS = TenantContext(tenant_id=TenantId("tenant-lean-a"))
THEIRS = TenantContext(tenant_id=TenantId("tenant-lean-b"))
# Outside the characters written as a literal: the tenant is bound as a parameter.
QUOTED = TenantContext(tenant_id=TenantId("tenant o'lean; SELECT 1 --"))

_SIGNALS = SignalRecord.__table__
EVERY_SIGNAL = ReadStatement(select(_SIGNALS.c.model).order_by(_SIGNALS.c.model))
SIGNALS_OF = ReadStatement(
    select(_SIGNALS.c.model).where(_SIGNALS.c.tenant_id == bindparam("tenant_id"))
)
TENANT_SETTING = ReadStatement(select(func.current_setting(literal("app.tenant_id"), true())))
MISSING = ReadStatement(select(Table("no_such_table", MetaData(), Column("n", Integer)).c.n))


def issued(model: str) -> SignalIssued:
    return SignalIssued(
        symbol="EURUSD",
        ts=1_750_000_000_000,
        action="buy",
        confidence=0.6,
        size=0.1,
        stop_loss=None,
        take_profit=None,
        model=model,
        reasons=["trend"],
    )


@pytest.fixture
async def database(fresh_database: ProvisionedDatabase) -> AsyncIterator[Database]:
    await upgrade(fresh_database.url)
    settings = DatabaseSettings(url=fresh_database.url, pool_size=1, max_overflow=0)
    database = Database(fresh_database.url, settings)
    for tenant in (OURS, THEIRS, QUOTED):
        async with database.unit_of_work(tenant) as uow:
            await SignalRepository(uow.session, tenant).record(issued(tenant.tenant_id), "M1")
    try:
        yield database
    finally:
        await database.dispose()


async def models(
    database: Database, tenant: TenantContext | None, *, system: bool = False
) -> list[str]:
    async with database.lean_read(tenant, system=system) as read:
        return [row[0] for row in await read.fetch(EVERY_SIGNAL, {})]


def postgresql_only(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")


class TestRowLevelSecurity:
    async def test_a_tenant_reads_its_own_rows_only(self, database: Database) -> None:
        postgresql_only(database)

        assert await models(database, OURS) == ["tenant-lean-a"]
        assert await models(database, THEIRS) == ["tenant-lean-b"]

    async def test_a_tenant_bound_as_a_parameter_reads_its_own_rows_only(
        self, database: Database
    ) -> None:
        postgresql_only(database)

        assert await models(database, QUOTED) == [QUOTED.tenant_id]

    async def test_no_tenant_reads_nothing_and_the_last_tenant_did_not_stay(
        self, database: Database
    ) -> None:
        postgresql_only(database)
        assert await models(database, OURS) == ["tenant-lean-a"]

        assert await models(database, None) == []

    async def test_system_reads_every_tenant_and_the_bypass_does_not_stay(
        self, database: Database
    ) -> None:
        postgresql_only(database)

        assert len(await models(database, None, system=True)) == 3
        assert await models(database, THEIRS) == ["tenant-lean-b"]

    async def test_the_setting_is_transaction_local(self, database: Database) -> None:
        postgresql_only(database)
        async with database.lean_read(OURS) as read:
            (inside,) = await read.fetch(TENANT_SETTING, {})

        async with database.lean_read(None) as read:
            (after,) = await read.fetch(TENANT_SETTING, {})

        assert inside[0] == "tenant-lean-a"
        assert after[0] in ("", None)


class TestLeanRead:
    async def test_reads_with_the_statement_s_own_filter(self, database: Database) -> None:
        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-b"})
            theirs = [row[0] for row in rows]
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
            ours = [row[0] for row in rows]

        # Under RLS the other tenant's rows stay hidden even when asked for by name.
        assert theirs == ([] if database.dialect == "postgresql" else ["tenant-lean-b"])
        assert ours == ["tenant-lean-a"]

    async def test_a_failed_statement_discards_its_connection_and_the_next_read_works(
        self, database: Database
    ) -> None:
        with pytest.raises(Exception, match="no_such_table"):
            async with database.lean_read(OURS) as read:
                await read.fetch(MISSING, {})

        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        assert [row[0] for row in rows] == ["tenant-lean-a"]

    async def test_an_error_of_the_caller_ends_the_read_cleanly(self, database: Database) -> None:
        with pytest.raises(LookupError):
            async with database.lean_read(OURS) as read:
                await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
                raise LookupError("the caller's own")

        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        assert [row[0] for row in rows] == ["tenant-lean-a"]

    async def test_fetch_needs_the_block_and_a_read_is_single_use(self, database: Database) -> None:
        read = database.lean_read(OURS)
        with pytest.raises(RuntimeError, match="not open"):
            await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        async with read:
            pass
        with pytest.raises(RuntimeError, match="single use"):
            async with read:
                pass


READ_ONLY_SETTING = ReadStatement(
    select(func.current_setting(literal("transaction_read_only")), literal(1).label("one"))
)


async def logged_queries(database: Database) -> list[str]:
    """Log every query the pool's one connection sends from now on (asyncpg's own logger)."""
    queries: list[str] = []
    connection = await database.read_engine.raw_connection()
    try:
        driver = connection.driver_connection
        assert driver is not None
        driver.add_query_logger(lambda record: queries.append(record.query))
    finally:
        await greenlet_spawn(connection.close)
    return queries


class TestOneRoundTrip:
    async def test_a_statement_is_one_call_with_no_begin_or_rollback(
        self, database: Database
    ) -> None:
        postgresql_only(database)
        assert await models(database, OURS) == ["tenant-lean-a"]  # creates the function
        queries = await logged_queries(database)

        assert await models(database, THEIRS) == ["tenant-lean-b"]
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon after the query

        assert len(queries) == 1
        assert queries[0].startswith("SELECT * FROM pg_temp.chainflow_lean_read_")

    async def test_the_call_is_read_only_and_leaves_no_transaction(
        self, database: Database
    ) -> None:
        postgresql_only(database)
        async with database.lean_read(OURS) as read:
            rows = await read.fetch(READ_ONLY_SETTING, {})
            (setting,) = await read.fetch(TENANT_SETTING, {})

        assert [tuple(row) for row in rows] == [("on", 1)]
        assert setting[0] == "tenant-lean-a"
        connection = await database.read_engine.raw_connection()
        try:
            driver = connection.driver_connection
            assert driver is not None
            assert not driver.is_in_transaction()
            assert await driver.fetchval("SELECT current_setting('app.tenant_id', true)") in (
                "",
                None,
            )
        finally:
            await greenlet_spawn(connection.close)


class TestWithoutTemporaryPrivilege:
    """A role that may not create temporary functions reads in a transaction instead."""

    @pytest.fixture
    async def no_temporary(
        self, database: Database, fresh_database: ProvisionedDatabase
    ) -> Database:
        postgresql_only(database)
        name, role = fresh_database.name, fresh_database.role
        await as_superuser(
            fresh_database.superuser_url or "",
            f"REVOKE TEMPORARY ON DATABASE {name} FROM PUBLIC",
            f"REVOKE TEMPORARY ON DATABASE {name} FROM {role}",
        )
        return database

    async def test_isolation_holds_through_the_transaction(self, no_temporary: Database) -> None:
        assert await models(no_temporary, OURS) == ["tenant-lean-a"]
        assert await models(no_temporary, QUOTED) == [QUOTED.tenant_id]
        assert await models(no_temporary, None) == []
        assert len(await models(no_temporary, None, system=True)) == 3
        assert await models(no_temporary, THEIRS) == ["tenant-lean-b"]

    async def test_the_read_is_begin_statement_rollback(self, no_temporary: Database) -> None:
        assert await models(no_temporary, OURS) == ["tenant-lean-a"]
        queries = await logged_queries(no_temporary)

        assert await models(no_temporary, THEIRS) == ["tenant-lean-b"]
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon after the query

        assert queries[0].startswith("BEGIN READ ONLY; SELECT set_config('app.tenant_id'")
        assert queries[-1] == "ROLLBACK"
        assert len(queries) == 3


class TestSlots:
    async def test_reads_beyond_the_pool_size_wait_instead_of_opening_overflow(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        await upgrade(fresh_database.url)
        settings = DatabaseSettings(url=fresh_database.url, pool_size=2, max_overflow=10)
        database = Database(fresh_database.url, settings)
        pool = database.read_engine.pool
        assert isinstance(pool, QueuePool)
        most_held = 0
        release = asyncio.Event()

        async def read() -> list[str]:
            nonlocal most_held
            async with database.lean_read(OURS) as lean:
                rows = await lean.fetch(EVERY_SIGNAL, {})
                most_held = max(most_held, pool.checkedout())
                await release.wait()
            return [row[0] for row in rows]

        try:
            reads = [asyncio.create_task(read()) for _ in range(8)]
            await asyncio.sleep(0.2)
            release.set()
            results = await asyncio.gather(*reads)
        finally:
            await database.dispose()

        assert most_held == 2
        assert results == [[]] * 8
